"""Refusals every room service raises, answered with an error frame."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _


class RoomError(Exception):
    """A refused action: answered with an error frame; nothing changed."""

    code = "refused"

    def __init__(self, message: str = "", code: str | None = None, **extra: Any) -> None:
        default = {
            "forbidden": _("You are not allowed in this room."),
            "room_closed": _("The room is not open."),
        }
        text = message or default.get(self.code, _("That cannot be done."))
        super().__init__(text)
        self.message = str(text)
        if code:
            self.code = code
        self.extra = extra


class RoomForbidden(RoomError):
    """You are not (or no longer) allowed in this room."""

    code = "forbidden"


class RoomClosed(RoomError):
    """The room is not open."""

    code = "room_closed"
