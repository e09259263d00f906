"""Shared WebSocket plumbing: every consumer that needs a signed-in user builds on this.

``UserSocketConsumer`` joins the user's ``user.<id>`` group so a logout anywhere closes the
socket, re-checks the session (idle timeout, logout) on every message and every
``SESSION_CHECK_SECONDS``, and counts the user's messages as activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.db import DatabaseError
from django.utils.translation import gettext as _

from apps.core import requestcontext
from apps.core.busy import is_database_busy
from apps.core.events import release_layer_channel, user_group
from apps.core.sessions import LAST_SEEN_KEY, session_allowed
from apps.core.text import (
    INVALID_TEXT_CODE,
    INVALID_TEXT_MESSAGE,
    has_control_chars,
    json_has_control_chars,
)

T = TypeVar("T")
C = TypeVar("C", bound="AsyncWebsocketConsumer")
U = TypeVar("U")
logger = logging.getLogger(__name__)

CLOSE_SESSION_ENDED = 4401
CLOSE_UNAUTHORISED = 4403
# Try again later (the channel layer is unavailable; the socket fell behind): 4503, not
# WebSocket's 1013, which daphne refuses from an application (1000 or 3000-4999 only) and
# turns into 1011.
CLOSE_TRY_AGAIN = 4503
MAX_FRAME_BYTES = 64 * 1024
SESSION_CHECK_SECONDS = 30
SESSION_WATCH_BATCH = 200


# Socket work has no thread affinity, so it runs on a pool: one slow query does not hold up
# every socket of the process (each thread keeps its own connection, up to CONN_MAX_AGE).
# Four threads (``SOCKET_DB_THREADS``): a chat message is now mostly waiting on PostgreSQL
# and Redis (one statement reads the access, one stores the message), so more threads
# overlap those waits; when it was mostly Python (the ORM compiling queries), two were best
# and more fought the event loop for the GIL. Measured at 80 msg/s in the room fan-out
# benchmark, 2026-11-30: p99 1.3-2.1 s with 2, 0.37-0.63 s with 4, 2.3 s with 6
# (bench/RESULTS.md).
SOCKET_DB_THREADS: int = settings.SOCKET_DB_THREADS
_socket_db_pool = ThreadPoolExecutor(max_workers=SOCKET_DB_THREADS, thread_name_prefix="socket-db")


def off_loop(fn: Callable[..., T]) -> Callable[..., Any]:
    """Run ``fn`` (database work) in a thread of the sockets' pool.

    Channels' ``database_sync_to_async`` defaults to one thread per process for all sync
    code (thread-sensitive): every socket's queries then queue behind each other. Stale
    connections are still closed around each call, as Channels does.
    """
    return DatabaseSyncToAsync(fn, thread_sensitive=False, executor=_socket_db_pool)


def live_unavailable_frame() -> dict[str, Any]:
    """The error frame of a socket closed because the channel layer (Redis) is down."""
    return {
        "type": "error",
        "v": 1,
        "code": "live_unavailable",
        "message": _(
            "Live updates are unavailable right now. This page will keep trying to reconnect."
        ),
    }


class LayerChannelReleased:
    """Consumer mixin: the consumer's layer channel is released when it ends, however it
    ends (``release_layer_channel``). Every routed consumer has it (a test checks).

    A socket whose own layer channel cannot be made (Channels makes it before the consumer
    sees the socket; Redis down) is accepted, told so (``live_unavailable_frame``) and
    closed with 4503, try again later: the page says live updates are unavailable and
    reconnects with back-off, instead of a failed handshake it cannot explain."""

    channel_layer: Any
    channel_name: str | None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        except Exception:
            layer, made = getattr(self, "channel_layer", None), getattr(self, "channel_name", None)
            if scope.get("type") != "websocket" or layer is None or made:
                raise
            logger.warning("no channel-layer channel for a new socket", exc_info=True)
            await _close_for_a_retry(receive, send)
        finally:
            await release_layer_channel(
                getattr(self, "channel_layer", None), getattr(self, "channel_name", None)
            )


async def _close_for_a_retry(receive: Any, send: Any) -> None:
    """Speak ASGI directly (there is no consumer): accept, say why, close with 4503."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(live_unavailable_frame())})
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})


class PingConsumer(LayerChannelReleased, AsyncWebsocketConsumer):
    """A health probe for WebSockets: answers "pong" to any frame."""

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=json.dumps({"type": "pong", "at": time.time()}))


def _session_key(scope: dict[str, Any]) -> str | None:
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None
    return getattr(scope.get("session"), "session_key", None) or None


def _session_verdict(scope: dict[str, Any], key: str, data: dict[str, Any], user: Any) -> bool:
    """The checks on a session's stored ``data`` for the socket's ``user`` (re-read or not);
    records what they found for ``frame_session_alive``, and keeps the session alive (its
    last-seen time) while the user is talking on the socket."""
    from django.contrib.sessions.backends.db import SessionStore  # needs the app registry

    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False  # logged out, or the session expired and was emptied
    if data.get(HASH_SESSION_KEY) != user.get_session_auth_hash():
        return False  # password changed
    if not session_allowed(user, data):
        return False  # as for pages: a staff session without MFA, an idle one
    data_last = data.get(LAST_SEEN_KEY)
    if scope.get("_viop_touch") and (data_last is None or time.time() - float(data_last) > 30):
        store = SessionStore(session_key=key)  # re-read as it is now, then saved
        data_last = store[LAST_SEEN_KEY] = time.time()
        store.save()
    scope["_viop_touch"] = False
    # What this read found, for the frames of the next few seconds (frame_session_alive).
    scope["_viop_checked"] = (time.monotonic(), None if data_last is None else float(data_last))
    return True


def login_session_alive(scope: dict[str, Any]) -> bool:
    """Is the socket's login session still alive? Reads the session row (the user is the one
    loaded when the socket opened; ``login_sessions_alive`` re-reads it too). Runs on the
    sockets' pool (``off_loop``), which has already closed stale connections."""
    from django.contrib.sessions.backends.db import SessionStore

    scope.pop("_viop_checked", None)
    key = _session_key(scope)
    if key is None:
        return False
    return _session_verdict(scope, key, SessionStore(session_key=key).load(), scope["user"])


def login_sessions_alive(scopes: list[dict[str, Any]]) -> list[bool]:
    """``login_session_alive`` for many sockets, with their users re-read (a password changed
    or an account deactivated since the socket opened shows only in a fresh row), in two
    queries: the periodic check of a process's sockets, and the pushed re-check."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    found_keys = [_session_key(scope) for scope in scopes]
    rows = dict(
        Session.objects.filter(
            session_key__in={k for k in found_keys if k}, expire_date__gt=timezone.now()
        ).values_list("session_key", "session_data")
    )
    users = {
        user.pk: user
        for user in get_user_model().objects.filter(
            pk__in={scope["user"].pk for scope, k in zip(scopes, found_keys, strict=True) if k},
            is_active=True,
        )
    }
    alive = []
    for scope, key in zip(scopes, found_keys, strict=True):
        scope.pop("_viop_checked", None)
        user = users.get(scope["user"].pk) if key else None
        if key is None or user is None:
            alive.append(False)
            continue
        scope["user"] = user
        data = SessionStore().decode(rows[key]) if key in rows else {}
        alive.append(_session_verdict(scope, key, data, user))
    return alive


def frame_session_alive(scope: dict[str, Any]) -> bool:
    """``login_session_alive`` for a frame from the client: the frame counts as activity
    (it keeps the idle timeout from running out while the user is talking).

    The session row is read at most every ``SESSION_CHECK_SECONDS`` per socket (one read per
    chat message was a tenth of the fan-out's database work): in between, a frame is
    answered from the last read. That answer stays right: sign-out, a password change and
    deactivation are pushed to the user's sockets at once (``session_ended`` and
    ``session_recheck``), and the idle timeout is counted here from the last activity the
    read saw; the socket's activity since only moves it later (recorded by the next read).
    Anything else (a session row deleted by hand) is found within the same period, as the
    watcher finds it for a silent socket."""
    if frame_session_known_alive(scope):
        return True
    return login_session_alive(scope)


def frame_session_known_alive(scope: dict[str, Any]) -> bool:
    """``frame_session_alive`` when its last read answers without a query (True), with the
    frame counted as activity; False when the session row must be read (in a thread)."""
    scope["_viop_touch"] = True
    checked = scope.get("_viop_checked")
    if checked is None:
        return False
    checked_at, last_seen = checked
    fresh = time.monotonic() - checked_at < SESSION_CHECK_SECONDS
    idle_left = last_seen is None or (
        time.time() - last_seen < settings.IDLE_TIMEOUT_SECONDS - SESSION_CHECK_SECONDS
    )
    return fresh and idle_left


class SocketSet(Generic[C, U]):
    """Sockets of one kind in this process (of one event loop, see ``per_event_loop``), with
    one task, started by the first ``add``, that checks them while any are in the set: the
    shared shape of the session watch and the rooms' ticker, whose periodic work differs.

    Each pass takes ``units()`` (what a check covers: a socket, a room with its sockets) and
    checks them ``batch_size()`` at a time, one trip to the pool per batch, the batches
    spread over ``period()`` seconds (not all in one instant, which would make that
    second's messages wait)."""

    def __init__(self) -> None:
        self.sockets: dict[str, C] = {}
        self.task: asyncio.Task[None] | None = None

    def add(self, consumer: C) -> None:
        self.sockets[consumer.channel_name] = consumer
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.run())

    def discard(self, consumer: C) -> None:
        self.sockets.pop(consumer.channel_name, None)

    def period(self) -> float:
        raise NotImplementedError

    def batch_size(self) -> int:
        raise NotImplementedError

    def units(self) -> list[U]:
        raise NotImplementedError

    async def check(self, batch: list[U]) -> None:
        """Check ``batch``; a failure is logged, not raised (it must not stop the next)."""
        raise NotImplementedError

    async def run(self) -> None:
        while self.sockets:
            units, size = self.units(), self.batch_size()
            batches = [units[i : i + size] for i in range(0, len(units), size)]
            gap = self.period() / max(len(batches), 1)
            for batch in batches:
                await asyncio.sleep(gap)
                await self.check(batch)


class _SessionWatch(SocketSet["UserSocketConsumer", "UserSocketConsumer"]):
    """The signed-in sockets of this process, their login sessions re-read within every
    ``SESSION_CHECK_SECONDS``: a batch of up to ``SESSION_WATCH_BATCH`` sockets per trip to
    the pool, two queries each (``login_sessions_alive``), the batches spread over the
    period. Was one task and two queries per socket, a tenth of a core for 800 silent
    sockets (bench/RESULTS.md). Sign-out, a password change and deactivation do not wait
    for it: they are pushed to the user's sockets."""

    def period(self) -> float:
        """Two thirds of ``SESSION_CHECK_SECONDS``: a watched socket's last read is always
        fresh, so its frames never wait for a read of their own (with the two equal, a
        socket's read went stale just before each pass and a fifth of the fan-out's chat
        messages read their session first, off the event loop: bench/RESULTS.md, eleventh
        pass)."""
        return SESSION_CHECK_SECONDS * 2 / 3

    def batch_size(self) -> int:
        return SESSION_WATCH_BATCH

    def units(self) -> list[UserSocketConsumer]:
        return list(self.sockets.values())

    async def check(self, batch: list[UserSocketConsumer]) -> None:
        consumers = [c for c in batch if c.channel_name in self.sockets]
        if not consumers:
            return
        try:
            alive = await off_loop(login_sessions_alive)([c.scope for c in consumers])
        except Exception:  # one failed pass must not stop the next
            logger.exception("session check failed for %d sockets", len(consumers))
            return
        for consumer, ok in zip(consumers, alive, strict=True):
            if not ok and consumer.channel_name in self.sockets:
                self.discard(consumer)
                await consumer.close(code=CLOSE_SESSION_ENDED)


def per_event_loop(factory: Callable[[], T]) -> Callable[[], T]:
    """A getter of one ``factory()`` object per running event loop (a process has one; the
    tests run several), for per-process socket bookkeeping such as ``_SessionWatch``."""
    objects: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get() -> T:
        loop = asyncio.get_running_loop()
        found = objects.get(loop)
        if found is None:
            found = objects[loop] = factory()
        return found

    return get


_session_watch = per_event_loop(_SessionWatch)


class UserSocketConsumer(LayerChannelReleased, AsyncJsonWebsocketConsumer):
    """Base for consumers that need an authenticated user whose session is still alive."""

    user_group_name: str | None = None
    _client_gone: bool = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every message:
        that is a hop to a thread per frame and per broadcast received (a room's message
        reaches 15 sockets), for the event loop's thread, which never touches the database.
        Database work runs in ``off_loop``, which closes stale connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.scope["request_context"] = requestcontext.RequestContext(
            request_id=requestcontext.new_request_id(),
            ip=(self.scope.get("client") or [None])[0],
        )
        await super().websocket_connect(message)

    async def authorise(self) -> bool:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return False
        return await off_loop(login_session_alive)(self.scope)

    async def join_user_group(self) -> bool:
        """Join the user's group (a sign-out anywhere closes this socket). False when the
        channel layer is unavailable (Redis down): the socket is then closed with 4503 after
        telling the client (``live_unavailable``), and the client tries again later."""
        try:
            await self.channel_layer.group_add(user_group(self.scope["user"].pk), self.channel_name)
        except Exception:  # noqa: BLE001 - any layer failure: no live socket for now
            await self.live_unavailable(accepted=False)
            return False
        self.user_group_name = user_group(self.scope["user"].pk)
        _session_watch().add(self)
        return True

    async def live_unavailable(self, *, accepted: bool) -> None:
        """The channel layer failed while the socket was being set up: say so and close with
        4503 (try again later), so the page shows it and reconnects with back-off."""
        logger.warning("channel layer unavailable; socket closed for a retry", exc_info=True)
        if not accepted:
            await self.accept()
        await self.send_json(live_unavailable_frame())
        await self.close(code=CLOSE_TRY_AGAIN)

    async def session_still_valid(self) -> bool:
        """Call before acting on any frame from the client."""
        return await off_loop(frame_session_alive)(self.scope)

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_SESSION_ENDED)

    async def session_recheck(self, event: dict[str, Any]) -> None:
        """The user's password or active flag changed: read the session (and user) now."""
        if not (await off_loop(login_sessions_alive)([self.scope]))[0]:
            await self.close(code=CLOSE_SESSION_ENDED)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        raw = message.get("text") or message.get("bytes") or ""
        if len(raw) > MAX_FRAME_BYTES:
            await self.send_json(
                {"type": "error", "code": "frame_too_large", "message": "Frame larger than 64 KB."}
            )
            return
        await super().websocket_receive(message)

    async def send(  # type: ignore[override]
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """A broadcast can reach a socket whose client has just gone: drop it quietly
        instead of logging a traceback (the client catches up when it reconnects)."""
        if self._client_gone:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            self._client_gone = True

    async def send_json(self, content: Any, close: bool = False) -> None:
        # AsyncJsonWebsocketConsumer.send_json calls its parent's send, past ours.
        await self.send(text_data=await self.encode_json(content), close=close)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self._client_gone = True
        await super().websocket_disconnect(message)

    async def disconnect(self, code: int) -> None:
        with contextlib.suppress(RuntimeError):
            _session_watch().discard(self)
        if self.user_group_name:
            try:
                await self.channel_layer.group_discard(self.user_group_name, self.channel_name)
            except Exception:  # noqa: BLE001 - Redis gone: its subscriptions went with it
                logger.warning("could not leave a user group", exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_json(
                {
                    "type": "error",
                    "code": "binary_not_supported",
                    "message": "Send JSON text frames.",
                }
            )
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_json(
                {
                    "type": "error",
                    "code": "malformed_json",
                    "message": "The frame is not valid JSON.",
                }
            )
            return
        if json_has_control_chars(content):
            # Refused whole, the socket kept open: PostgreSQL would refuse a NUL anyway, and
            # a consumer error closes with 1011, which the client would retry. ``ref`` lets
            # the client take back the message it had shown as sending.
            ref = content.get("client_id") if isinstance(content, dict) else None
            await self.send_json(
                {
                    "type": "error",
                    "code": INVALID_TEXT_CODE,
                    "message": str(INVALID_TEXT_MESSAGE),
                    **({"ref": ref} if isinstance(ref, str) and not has_control_chars(ref) else {}),
                }
            )
            return
        try:
            await self.receive_json(content)
        except DatabaseError as exc:
            if not is_database_busy(exc):
                raise
            # A statement or lock timeout: the frame did nothing; the socket stays open.
            await self.send_json(
                {
                    "type": "error",
                    "code": "busy",
                    "message": "The server is busy; nothing was saved. Try again shortly.",
                }
            )


class NotificationSocketConsumer(UserSocketConsumer):
    """Per-user socket that open pages hold: session-ended closes and in-app events."""

    async def connect(self) -> None:
        if not await self.authorise():
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        # Subscribed before the client hears it is open: a logout right after is not missed.
        if not await self.join_user_group():
            return
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json({"type": "error", "code": "unknown_type"})
            return
        if not await self.session_still_valid():
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        await self.send_json({"type": "pong"})

    async def user_event(self, event: dict[str, Any]) -> None:
        """Forward an in-app event (e.g. a notification) to the page."""
        await self.send_json(event.get("payload", {}))
