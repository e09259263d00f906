"""The room protocol's client frames, validated with pydantic (see docs/rooms-protocol.md).

Every client frame is a JSON object with a ``type``; ``v`` (the protocol version) is
optional and must be 1 when given. Unknown fields are ignored; unknown types, missing or
wrong fields are refused with an error frame and change nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from apps.rooms.models import MAX_BODY_CHARS, MAX_PIN_CHARS

PROTOCOL_VERSION = 1
MAX_MUTE_MINUTES = 120
MAX_PAGE = 100

ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
MessageId = Annotated[int, Field(ge=0, le=2**62)]
UserId = Annotated[int, Field(ge=1, le=2**62)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    v: Literal[1] = 1


class Ping(_Frame):
    type: Literal["ping"]


class Sync(_Frame):
    """Catch-up: everything after ``after`` (the last id the client saw), in order."""

    type: Literal["sync"]
    after: MessageId = 0


class History(_Frame):
    """Scroll-back: up to ``limit`` messages before ``before``."""

    type: Literal["history"]
    before: MessageId
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50


class Send(_Frame):
    type: Literal["send"]
    client_id: ClientId
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)]


class Typing(_Frame):
    type: Literal["typing"]


class Read(_Frame):
    type: Literal["read"]
    message_id: MessageId


class Hand(_Frame):
    type: Literal["hand"]
    raised: bool


class Admit(_Frame):
    type: Literal["admit"]
    user_id: UserId


class AdmitAll(_Frame):
    type: Literal["admit_all"]


class Delete(_Frame):
    type: Literal["delete"]
    message_id: MessageId


class Mute(_Frame):
    """``minutes`` 0 lifts a mute."""

    type: Literal["mute"]
    user_id: UserId
    minutes: Annotated[int, Field(ge=0, le=MAX_MUTE_MINUTES)]


class Remove(_Frame):
    type: Literal["remove"]
    user_id: UserId


class Lock(_Frame):
    type: Literal["lock"]
    locked: bool


class Pin(_Frame):
    """An empty ``body`` unpins."""

    type: Literal["pin"]
    body: Annotated[str, Field(max_length=MAX_PIN_CHARS)]


class End(_Frame):
    type: Literal["end"]


ClientFrame = Annotated[
    Ping
    | Sync
    | History
    | Send
    | Typing
    | Read
    | Hand
    | Admit
    | AdmitAll
    | Delete
    | Mute
    | Remove
    | Lock
    | Pin
    | End,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(ClientFrame)

FACILITATOR_TYPES = frozenset(
    {"admit", "admit_all", "delete", "mute", "remove", "lock", "pin", "end"}
)
KNOWN_TYPES = frozenset(
    {"ping", "sync", "history", "send", "typing", "read", "hand"} | FACILITATOR_TYPES
)


class FrameError(Exception):
    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []


def parse_frame(content: Any) -> BaseModel:
    """Validate one decoded client frame; raise FrameError with a stable code."""
    if not isinstance(content, dict):
        raise FrameError("invalid_frame", _("A frame must be a JSON object."))
    kind = content.get("type")
    if not isinstance(kind, str) or not kind:
        raise FrameError("missing_type", _("The frame has no type."), ["type"])
    if kind not in KNOWN_TYPES:
        raise FrameError("unknown_type", _("Unknown frame type."), ["type"])
    if "v" in content and content["v"] != PROTOCOL_VERSION:
        raise FrameError("unsupported_version", _("This server speaks protocol version 1."), ["v"])
    try:
        frame: BaseModel = _adapter.validate_python(content)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"][1:]) for err in exc.errors()})
        too_long = any(err["type"] == "string_too_long" for err in exc.errors())
        if too_long:
            raise FrameError("too_long", _("The text is too long."), fields) from None
        raise FrameError("invalid_fields", _("Missing or invalid fields."), fields) from None
    if isinstance(frame, Send) and not frame.body.strip():
        raise FrameError("invalid_fields", _("The message is empty."), ["body"])
    return frame
