"""What apps above rooms add to the live room page: video adds its stage, scripts and styles.

rooms knows no app above it; they register here from their AppConfig.ready()."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from apps.scheduling.models import Session


@dataclasses.dataclass(frozen=True)
class RoomPageExtra:
    template: str  # included above the chat
    context: dict[str, Any]
    scripts: tuple[str, ...] = ()  # static paths, loaded after rooms.js
    styles: tuple[str, ...] = ()


ExtraFactory = Callable[[HttpRequest, Session], RoomPageExtra | None]
_factories: list[ExtraFactory] = []


def register_room_page_extra(factory: ExtraFactory) -> ExtraFactory:
    if factory not in _factories:
        _factories.append(factory)
    return factory


def room_page_extras(request: HttpRequest, session: Session) -> list[RoomPageExtra]:
    return [extra for factory in _factories if (extra := factory(request, session)) is not None]
