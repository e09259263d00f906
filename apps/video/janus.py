"""Janus's private HTTP API, as Django drives it: one short Janus session per call.

Every call carries a token Django signs and, for room control, the VideoRoom ``admin_key`` or
the room's ``secret``. Failures raise JanusError; callers decide whether a page can go on."""

from __future__ import annotations

import json
import logging
import secrets
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

from apps.video import tokens

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5


class JanusError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, "transaction": secrets.token_hex(8), "token": _control_token()}
    # JANUS_HTTP_URL is http(s) only (checked in settings).
    request = urllib.request.Request(  # noqa: S310
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise JanusError(f"Janus unreachable: {type(exc).__name__}") from exc
    if answer.get("janus") == "error":
        error = answer.get("error") or {}
        raise JanusError(str(error.get("reason", "error")), error.get("code"))
    return answer


def _control_token() -> str:
    return tokens.janus_token(secret=settings.JANUS_TOKEN_SECRET, expires_at=tokens.now() + 60)


def videoroom(request: dict[str, Any]) -> dict[str, Any]:
    """Send one synchronous VideoRoom request; returns the plugin's answer (``videoroom`` …)."""
    base = settings.JANUS_HTTP_URL.rstrip("/")
    session = _post(base, {"janus": "create"})["data"]["id"]
    try:
        handle = _post(f"{base}/{session}", {"janus": "attach", "plugin": tokens.VIDEOROOM})[
            "data"
        ]["id"]
        answer = _post(f"{base}/{session}/{handle}", {"janus": "message", "body": request})
    finally:
        try:
            _post(f"{base}/{session}", {"janus": "destroy"})
        except JanusError:
            logger.warning("janus: could not destroy a control session")
    data: dict[str, Any] = (answer.get("plugindata") or {}).get("data") or {}
    if data.get("videoroom") == "event" and "error_code" in data:
        raise JanusError(str(data.get("error", "error")), int(data["error_code"]))
    return data


# VideoRoom's "no such room" and "no such feed": the state Django wanted already holds.
NO_SUCH_ROOM = 426
NO_SUCH_FEED = 428


def room_create(*, room: int, pin: str, secret: str, publishers: int, allowed: list[str]) -> None:
    videoroom(
        {
            "request": "create",
            "admin_key": settings.JANUS_ADMIN_KEY,
            "room": room,
            "permanent": False,
            "description": f"r{room}",  # opaque: no names in Janus
            "is_private": True,
            "pin": pin,
            "secret": secret,
            "publishers": publishers,
            "allowed": allowed,
            "record": False,
            "lock_record": True,
            "audiolevel_event": False,
            "notify_joining": True,
            "bitrate": 512_000,
            "fir_freq": 10,
            "videocodec": "vp8",
            "audiocodec": "opus",
        }
    )


def room_exists(*, room: int) -> bool:
    return bool(videoroom({"request": "exists", "room": room}).get("exists"))


def room_allow(*, room: int, secret: str, tokens_: list[str], action: str = "add") -> None:
    videoroom(
        {"request": "allowed", "room": room, "secret": secret, "action": action, "allowed": tokens_}
    )


def room_destroy(*, room: int, secret: str) -> None:
    try:
        videoroom({"request": "destroy", "room": room, "secret": secret, "permanent": False})
    except JanusError as exc:
        if exc.code != NO_SUCH_ROOM:
            raise


def participants(*, room: int) -> list[dict[str, Any]]:
    try:
        data = videoroom({"request": "listparticipants", "room": room})
    except JanusError as exc:
        if exc.code == NO_SUCH_ROOM:
            return []
        raise
    return list(data.get("participants") or [])


def kick(*, room: int, secret: str, feed: int) -> None:
    try:
        videoroom({"request": "kick", "room": room, "secret": secret, "id": feed})
    except JanusError as exc:
        if exc.code not in (NO_SUCH_ROOM, NO_SUCH_FEED):
            raise


def moderate(*, room: int, secret: str, feed: int, mid: str, mute: bool) -> None:
    """Stop (or resume) forwarding one of a publisher's streams, whatever its browser does."""
    try:
        videoroom(
            {
                "request": "moderate",
                "room": room,
                "secret": secret,
                "id": feed,
                "mid": mid,
                "mute": mute,
            }
        )
    except JanusError as exc:
        # No such feed (not publishing) or no such mid (audio-only, camera never on): the
        # lock is kept by Django and applied again when they publish.
        if exc.code not in (NO_SUCH_ROOM, NO_SUCH_FEED, 429, 430, 435):
            raise
