"""The room socket: ``/ws/rooms/<session id>/``. Thin: parse, call a service, send.

Protocol: docs/rooms-protocol.md. Close codes: 4401 signed out / idle (from the base
class), 4403 not allowed (not a participant, removed, discharged), 4410 room not open.

Cost per process, not per socket: every ``check_seconds`` one task per process (``_Ticker``)
refreshes the presence of all its room sockets, re-checks their users' access and posts
the room notices, one service call per batch of rooms (``services.rooms_tick``), instead of
each socket doing all that on its own. Service calls run on the loop's thread pool
(``off_loop``), so one slow query does not hold up every other socket of the process.

Likewise a room's events reach a process once (``RoomHub``): one subscription per room per
process, and each event is handed to the room's sockets of the process in the order it
came, instead of one subscription, queue and dispatch per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from apps.core import requestcontext
from apps.core.consumers import (
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN,
    SocketSet,
    UserSocketConsumer,
    frame_session_alive,
    off_loop,
    per_event_loop,
)
from apps.core.events import release_layer_channel
from apps.rooms import protocol, services
from apps.rooms.models import room_group
from apps.rooms.services import RoomClosed, RoomError, RoomForbidden

CLOSE_FORBIDDEN = 4403
CLOSE_ROOM_CLOSED = 4410
# Rooms checked in one service call by a process's periodic check (``_Ticker``).
ROOM_TICK_BATCH = 10
# Events a socket may have waiting while its snapshot or admission is read (a room sends a
# few a second); past that the socket is closed with 4503 and the client reconnects.
HELD_EVENTS_LIMIT = 1000

T = TypeVar("T")
logger = logging.getLogger(__name__)


class _SessionEnded(Exception):
    """The login session is over (found by the check that runs with a frame's service)."""


class _Ticker(SocketSet["RoomConsumer", tuple[int, list["RoomConsumer"]]]):
    """This process's room sockets, checked together every ``RoomConsumer.check_seconds``."""

    def period(self) -> float:
        return RoomConsumer.check_seconds

    def batch_size(self) -> int:
        return ROOM_TICK_BATCH

    def units(self) -> list[tuple[int, list[RoomConsumer]]]:
        """The rooms with this process's sockets in them, as the hub has them (``check``
        keeps the sockets that are in this set): one service call checks up to
        ``ROOM_TICK_BATCH`` rooms (the same five queries for one room or many)."""
        return [(room, list(members.values())) for room, members in _hub().rooms.items()]

    async def check(self, batch: list[tuple[int, list[RoomConsumer]]]) -> None:
        live = {
            session_id: still
            for session_id, consumers in batch
            if (still := [c for c in consumers if c.channel_name in self.sockets])
        }
        if not live:
            return
        try:
            refused = await off_loop(services.rooms_tick)(
                rooms={
                    session_id: [(c.channel_name, c.scope["user"].pk) for c in consumers]
                    for session_id, consumers in live.items()
                }
            )
        except Exception:  # a failed pass must not stop the next
            logger.exception("room check failed for %d rooms", len(live))
            return
        for consumers in live.values():
            for consumer in consumers:
                exc = refused.get(consumer.channel_name)
                if exc is not None and consumer.channel_name in self.sockets:
                    self.discard(consumer)
                    try:
                        await consumer._refused(exc)
                    except Exception:  # one socket's close must not stop the others'
                        logger.exception("closing a refused room socket failed")


_ticker = per_event_loop(_Ticker)


class RoomHub:
    """This process's one channel-layer subscription per room with sockets in it.

    Every event for a room (``services._event``, ``services._control``) is published to the
    room's group; the hub receives it once and hands it to each of the room's sockets here
    (``RoomConsumer.take``), in the order the events came. A broadcast costs one receive per
    process and a frame write per socket, not a queue, a task wake-up and a dispatch per
    socket (bench/RESULTS.md, tenth pass). A socket joins before it reads its snapshot, so
    nothing published in between is missed (it waits in the socket's ``held`` queue)."""

    def __init__(self) -> None:
        self.rooms: dict[int, dict[str, RoomConsumer]] = {}
        self.subscribed: set[int] = set()
        self.lock = asyncio.Lock()  # orders subscribe/unsubscribe (group_add/discard)
        self.layer: Any = None
        self.channel: str | None = None
        self.task: asyncio.Task[None] | None = None

    async def join(self, consumer: RoomConsumer) -> None:
        """Returns once the room's events reach ``consumer`` (subscribed); raises, with
        ``consumer`` left out, if the channel layer cannot subscribe (Redis down)."""
        session_id = consumer.session_id
        self.rooms.setdefault(session_id, {})[str(consumer.channel_name)] = consumer
        if session_id in self.subscribed:
            return
        try:
            async with self.lock:
                if session_id in self.subscribed or not self.rooms.get(session_id):
                    return
                if self.channel is None:
                    self.layer = consumer.channel_layer
                    self.channel = await self.layer.new_channel("rooms.hub.")
                    self.task = asyncio.create_task(self._run(self.layer, self.channel))
                await self.layer.group_add(room_group(session_id), self.channel)
                self.subscribed.add(session_id)
        except BaseException:
            await self.leave(consumer)
            raise

    async def leave(self, consumer: RoomConsumer) -> None:
        session_id = consumer.session_id
        members = self.rooms.get(session_id)
        if members is None or members.pop(str(consumer.channel_name), None) is None or members:
            return
        del self.rooms[session_id]
        async with self.lock:
            if session_id in self.rooms or session_id not in self.subscribed:
                return
            self.subscribed.discard(session_id)
            try:
                await self.layer.group_discard(room_group(session_id), self.channel)
            except Exception:  # noqa: BLE001 - Redis gone: its subscriptions went with it
                logger.warning("could not unsubscribe from a room's group", exc_info=True)
            if not self.subscribed and self.task is not None:  # no rooms here: stop listening
                task, channel, self.task, self.channel = self.task, self.channel, None, None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await release_layer_channel(self.layer, channel)

    async def _run(self, layer: Any, channel: str) -> None:
        while True:
            try:
                event = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer lost Redis: try again (clients catch up by sync)
                logger.warning("room hub receive failed", exc_info=True)
                await asyncio.sleep(1)
                continue
            room = event.get("room") if isinstance(event, dict) else None
            members = self.rooms.get(room) if isinstance(room, int) else None
            for consumer in list((members or {}).values()):
                try:
                    await consumer.take(event)
                except Exception:  # one socket's failure must not stop the room's others
                    logger.exception("room event delivery failed")


_hub = per_event_loop(RoomHub)


class RoomConsumer(UserSocketConsumer):
    # Re-check access, refresh presence and post room notices this often (per process).
    check_seconds: float = 10.0

    session_id: int
    admitted: bool = False
    registered: bool = False
    is_facilitator: bool = False
    # Room events that came while this socket could not take them yet (its snapshot, or
    # its welcome on admission, being read): sent in order once it can. None: not holding.
    held: deque[dict[str, Any]] | None = None
    _held_task: asyncio.Task[None] | None = None
    closing: bool = False

    _window_start: float = 0.0
    _window_frames: int = 0
    _check_session_next: bool = False

    def _frame_allowed(self) -> bool:
        """A ceiling on frames of any kind (6x the message limit) against floods, counted
        per socket in memory: no round trip to Redis for every frame. Messages have their
        own limit per author and room across processes (services.room_message_post)."""
        limit, window = services.rate_limit()
        now = time.monotonic()
        if now - self._window_start >= window:
            self._window_start, self._window_frames = now, 0
        self._window_frames += 1
        return self._window_frames <= limit * 6

    async def _call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """Run a service in a worker thread with this socket's audit context. For a client's
        frame, the login session is checked first in the same thread call (one trip to the
        pool per frame, not two); raises ``_SessionEnded`` if it is over."""
        ctx = self.scope.get("request_context")
        scope = self.scope
        check, self._check_session_next = self._check_session_next, False

        def run() -> T:
            if check and not frame_session_alive(scope):
                raise _SessionEnded
            token = requestcontext.set_current(ctx)
            try:
                return fn(**kwargs)
            finally:
                requestcontext.reset(token)

        result: T = await off_loop(run)()
        return result

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        user = self.scope.get("user")
        if not await self.authorise():
            await self.close(code=CLOSE_FORBIDDEN)
            return
        try:
            access = await self._call(services.room_check, user=user, session_id=self.session_id)
        except RoomClosed:
            await self.close(code=CLOSE_ROOM_CLOSED)
            return
        except RoomError:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.is_facilitator = access.is_facilitator
        if not await self.join_user_group():  # before the client hears it is open (logout)
            return
        await self.accept()
        # Join the room's events before the snapshot so nothing sent in between is missed:
        # they are held until the first frame is out (the client drops duplicates by id).
        # Room broadcasts reach a lobby socket only once it is admitted.
        self.held = deque()
        try:
            await _hub().join(self)
        except Exception:  # noqa: BLE001 - the layer is down: no live room for now
            self.closing = True
            await self.live_unavailable(accepted=True)
            return
        try:
            first = await self._call(
                services.room_connect,
                user=user,
                session_id=self.session_id,
                channel_name=self.channel_name,
            )
        except RoomError as exc:
            await self._refused(exc)
            return
        self.registered = True
        self.admitted = first["type"] == "welcome"
        await self.send_json(first)
        await self._send_held()
        _ticker().add(self)

    # --- Room events (from the process's RoomHub, in order) ---------------------------------

    def _for_me(self, event: dict[str, Any]) -> bool:
        if event.get("type") == "room.event":
            return self.admitted and (self.is_facilitator or not event.get("staff"))
        user_id = event.get("user_id")
        return user_id is None or user_id == self.scope["user"].pk

    async def take(self, event: dict[str, Any]) -> None:
        """An event for this socket's room (``RoomHub``): a broadcast goes straight out; a
        control event (admitted, removed, muted, ended) is acted on in its own task, and the
        events after it wait in ``held`` until it is done, so none overtakes it."""
        if self.closing:
            return
        if self.held is not None:
            if len(self.held) >= HELD_EVENTS_LIMIT:
                logger.warning("room socket fell behind; closing it for a reconnect")
                self.closing = True
                await self.close(code=CLOSE_TRY_AGAIN)
                return
            self.held.append(event)
        elif event.get("type") == "room.event":
            await self._act(event)
        elif self._for_me(event):
            self.held = deque([event])
            self._held_task = asyncio.create_task(self._send_held())

    async def _act(self, event: dict[str, Any]) -> None:
        """Send a broadcast, or act on a control event, if it is for this socket."""
        if not self._for_me(event):
            return
        if event.get("type") == "room.event":
            await self.send(text_data=event["text"])
        else:
            await self._on_control(event)

    async def _send_held(self) -> None:
        """Act on the held events in order, those arriving meanwhile included; then stop
        holding (no await between the last check and that, so none is left behind)."""
        try:
            while self.held and not self.closing:
                await self._act(self.held.popleft())
        except Exception:
            logger.exception("room control failed")
            self.closing = True
            await self.close(code=CLOSE_TRY_AGAIN)
        finally:
            self.held = None

    async def _on_control(self, event: dict[str, Any]) -> None:
        """admitted, removed, muted, ended (``services._control``; not a channel-layer
        handler: control events come through the hub, in order with the room's broadcasts)."""
        action = event.get("action")
        if action == "admitted" and not self.admitted:
            try:
                welcome = await self._call(
                    services.room_welcome, user=self.scope["user"], session_id=self.session_id
                )
            except RoomError as exc:
                await self._refused(exc)
                return
            self.admitted = True
            await self.send_json(welcome)
        elif action == "removed":
            await self._refused(RoomForbidden())
        elif action == "ended":
            await self._refused(RoomClosed())
        elif action == "muted":
            await self.send_json({"type": "you_muted", "v": 1, "until": event.get("until")})

    async def _refused(self, exc: RoomError) -> None:
        """Access was lost (removed, discharged) or the room closed: say so, then close.
        Nothing of the room reaches the socket after that frame."""
        self.closing = True
        if isinstance(exc, RoomClosed):
            await self.send_json({"type": "ended", "v": 1})
            await self.close(code=CLOSE_ROOM_CLOSED)
        elif isinstance(exc, RoomForbidden):
            await self.send_json({"type": "removed", "v": 1})
            await self.close(code=CLOSE_FORBIDDEN)
        else:
            await self.close(code=CLOSE_FORBIDDEN)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        with contextlib.suppress(RuntimeError):
            _ticker().discard(self)
        await _hub().leave(self)  # a no-op for a socket that never joined
        if self.registered:
            self.registered = False
            await self._call(
                services.room_disconnect,
                user=self.scope["user"],
                session_id=self.session_id,
                channel_name=self.channel_name,
            )
        await super().disconnect(code)

    async def send_json(self, content: Any, close: bool = False) -> None:
        """Every frame carries the protocol version (the base class's errors too)."""
        if isinstance(content, dict) and "v" not in content:
            content = {**content, "v": protocol.PROTOCOL_VERSION}
        await super().send_json(content, close=close)

    async def error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "v": 1, "code": code, "message": message, **extra})

    # --- Client frames --------------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not self._frame_allowed():
            await self.error("rate_limited", "Too many frames. Wait a few seconds.")
            return
        try:
            frame = protocol.parse_frame(content)
        except protocol.FrameError as exc:
            if not await self.session_still_valid():
                await self.close(code=CLOSE_SESSION_ENDED)
                return
            await self.error(exc.code, exc.message, fields=exc.fields)
            return
        kind = frame.type  # type: ignore[attr-defined]
        handler = getattr(self, f"on_{kind}")
        # Every handler calls one service: the session is checked with it (``_call``).
        self._check_session_next = True
        try:
            await handler(frame)
        except _SessionEnded:
            await self.close(code=CLOSE_SESSION_ENDED)
        except (RoomForbidden, RoomClosed) as exc:
            await self._refused(exc)
        except RoomError as exc:
            ref = getattr(frame, "client_id", None)
            extra = {"ref": ref} if ref else {}
            await self.error(exc.code, exc.message, **extra, **exc.extra)
        finally:
            self._check_session_next = False

    async def on_ping(self, frame: BaseModel) -> None:
        await self.send_json(
            await self._call(
                services.room_ping, session_id=self.session_id, channel_name=self.channel_name
            )
        )

    async def on_sync(self, frame: protocol.Sync) -> None:
        await self.send_json(
            await self._call(
                services.room_sync,
                user=self.scope["user"],
                session_id=self.session_id,
                after=frame.after,
            )
        )

    async def on_history(self, frame: protocol.History) -> None:
        await self.send_json(
            await self._call(
                services.room_history,
                user=self.scope["user"],
                session_id=self.session_id,
                before=frame.before,
                limit=frame.limit,
            )
        )

    async def on_send(self, frame: protocol.Send) -> None:
        posted = await self._call(
            services.room_message_post,
            author=self.scope["user"],
            session_id=self.session_id,
            body=frame.body,
            client_id=frame.client_id,
        )
        payload, created = posted
        await self.send_json(
            {
                "type": "ack",
                "v": 1,
                "client_id": frame.client_id,
                "id": payload["id"],
                "duplicate": not created,
                "message": payload,
            }
        )

    async def on_typing(self, frame: protocol.Typing) -> None:
        await self._call(services.room_typing, user=self.scope["user"], session_id=self.session_id)

    async def on_read(self, frame: protocol.Read) -> None:
        await self._call(
            services.room_read,
            user=self.scope["user"],
            session_id=self.session_id,
            message_id=frame.message_id,
        )

    async def on_hand(self, frame: protocol.Hand) -> None:
        await self._call(
            services.room_hand,
            user=self.scope["user"],
            session_id=self.session_id,
            raised=frame.raised,
        )

    async def on_admit(self, frame: protocol.Admit) -> None:
        await self._call(
            services.room_admit,
            by=self.scope["user"],
            session_id=self.session_id,
            user_id=frame.user_id,
        )

    async def on_admit_all(self, frame: protocol.AdmitAll) -> None:
        await self._call(services.room_admit_all, by=self.scope["user"], session_id=self.session_id)

    async def on_delete(self, frame: protocol.Delete) -> None:
        await self._call(
            services.room_message_delete,
            by=self.scope["user"],
            session_id=self.session_id,
            message_id=frame.message_id,
        )

    async def on_mute(self, frame: protocol.Mute) -> None:
        await self._call(
            services.room_member_mute,
            by=self.scope["user"],
            session_id=self.session_id,
            user_id=frame.user_id,
            minutes=frame.minutes,
        )

    async def on_remove(self, frame: protocol.Remove) -> None:
        await self._call(
            services.room_member_remove,
            by=self.scope["user"],
            session_id=self.session_id,
            user_id=frame.user_id,
        )

    async def on_lock(self, frame: protocol.Lock) -> None:
        await self._call(
            services.room_lock,
            by=self.scope["user"],
            session_id=self.session_id,
            locked=frame.locked,
        )

    async def on_pin(self, frame: protocol.Pin) -> None:
        await self._call(
            services.room_pin, by=self.scope["user"], session_id=self.session_id, body=frame.body
        )

    async def on_end(self, frame: protocol.End) -> None:
        await self._call(services.room_end, by=self.scope["user"], session_id=self.session_id)
