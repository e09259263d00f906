"""A chat message posted on the socket's event loop (PostgreSQL), with no worker thread.

Why: under the fan-out benchmark the tail of a message's time was its service call in a
worker thread (bench/RESULTS.md, tenth pass): after each of its four answers from the
network (the access read, the insert, the publish, the lock's release) the thread waited
for the interpreter lock while the event loop wrote frames to other sockets. Here the same
work runs on the loop itself, through an asyncio psycopg connection: nothing waits for
the lock, and the loop's other sockets go on while the database answers.

What: exactly what ``services.room_message_post`` does on its common path, with its own
statements and rules (no second copy of either): ``selectors._ParticipantRead`` (the access
read, which also takes the room's order lock), ``selectors.access_from_row`` and
``services.entered_check`` (the access rule), the mute check, ``services._ChatInsert``
(the re-checks, the rate limit, the insert and the read marker in one statement), the
broadcast to the room's group, then the order lock's release.

Anything off that path returns None with nothing written (the lock released), and the
caller runs the service in a thread, which gives the answer: someone not in the room yet
or not admitted, muted, an empty body, a risk phrase (stored with its alert in one
transaction), a resend, over the limit, refused by the re-checks, the risk phrases due to
be read again, or the database unreachable. Only PostgreSQL (development's SQLite has one
writer and no such pool); ``ROOMS_CHAT_ON_LOOP = False`` turns it off.

Connections: a few per event loop (``ROOMS_LOOP_DB_CONNECTIONS``), in autocommit, opened on
first use and kept. One that fails, or whose call was cancelled while it might hold the
order lock, is closed, never reused: closing the database session releases the lock.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.utils import timezone
from psycopg.pq import TransactionStatus

from apps.accounts.models import User
from apps.core.consumers import per_event_loop
from apps.rooms import selectors, services
from apps.rooms.models import Message, MessageKind, room_group
from apps.rooms.services import RoomError

logger = logging.getLogger(__name__)

# Every connection opened here, whatever its loop: the tests close them between tests.
_opened: weakref.WeakSet[Any] = weakref.WeakSet()


def enabled() -> bool:
    return (
        getattr(settings, "ROOMS_CHAT_ON_LOOP", True)
        and connections["default"].vendor == "postgresql"
    )


class LoopConnections:
    """This event loop's database connections for ``post``: at most
    ``ROOMS_LOOP_DB_CONNECTIONS`` in use at once; idle ones are kept for the next."""

    def __init__(self) -> None:
        size = int(getattr(settings, "ROOMS_LOOP_DB_CONNECTIONS", 4))
        self.free = asyncio.Semaphore(size)
        self.idle: list[Any] = []

    async def get(self) -> Any:
        await self.free.acquire()
        try:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed:
                    return conn
            django_conn = connections["default"]
            params = django_conn.get_connection_params()
            params.pop("cursor_factory", None)  # Django's is a sync cursor
            params["prepare_threshold"] = 0  # the same few statements, prepared on first use
            conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            _opened.add(conn)
            timezone_name = django_conn.timezone_name
            if conn.info.parameter_status("TimeZone") != timezone_name:
                await conn.execute("SELECT set_config('TimeZone', %s, false)", [timezone_name])
            return conn
        except BaseException:
            self.free.release()
            raise

    def put(self, conn: Any, *, broken: bool = False) -> None:
        """Give ``conn`` back; ``broken``: close it instead (a lock it may hold goes with
        its database session)."""
        self.free.release()
        if broken or conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            discard(conn)
        else:
            self.idle.append(conn)


def discard(conn: Any) -> None:
    try:
        conn.pgconn.finish()  # what AsyncConnection.close() does, without awaiting
    except Exception:  # already gone
        logger.debug("closing a loop connection failed", exc_info=True)


def close_all() -> None:
    """Close every connection opened here (tests, between tests)."""
    for conn in list(_opened):
        discard(conn)


_connections = per_event_loop(LoopConnections)


async def post(
    *, author: User, session_id: int, body: str, client_id: str
) -> tuple[dict[str, Any], bool] | None:
    """Store and broadcast a chat message as ``services.room_message_post`` does; returns
    (payload, True) once the broadcast is out, or None for the caller to run the service
    (nothing written). Raises what the broadcast raises, the message being stored.

    Once started it runs to its end in its own task, even if the socket's task is
    cancelled meanwhile (as the service in a thread would): a stored message is always
    broadcast and the room's order lock always released."""
    if not enabled() or not body.strip():
        return None
    if author.is_patient:
        patterns = services.risk_patterns_cached()
        if patterns is None or services._risk_match(body, patterns):
            return None
    return await asyncio.shield(
        _post(author=author, session_id=session_id, body=body, client_id=client_id)
    )


async def publish(session_id: int, event: dict[str, Any]) -> None:
    """Send a room event to the room's group (every process with sockets in the room)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(room_group(session_id), event)


async def _post(
    *, author: User, session_id: int, body: str, client_id: str
) -> tuple[dict[str, Any], bool] | None:
    pool = _connections()
    try:
        conn = await pool.get()
    except Exception:
        logger.warning("no loop connection to the database; posting from a thread", exc_info=True)
        return None
    key = services.order_lock_key(session_id)
    locked = broken = written = False
    try:
        read = selectors.participant_read()
        sql, params = read.ordered(user_id=author.pk, session_id=session_id, key=key)
        locked = True  # perhaps, from here on: the release below is harmless if not
        row = await (await conn.execute(sql, params, prepare=True)).fetchone()
        if row is None:  # not in the room yet (no lock taken): the long way
            locked = False
            return None
        participant, known = selectors.access_from_row(author, *read.build(row))
        if known is None:
            return None
        try:
            entered = services.entered_check(known, participant.room, participant)
        except RoomError:
            return None
        now = timezone.now()
        if selectors.mute_in_force(participant, now=now):
            return None
        message = Message(
            room=entered.room,
            author=author,
            kind=MessageKind.CHAT,
            body=body.strip(),
            client_id=client_id,
            created_at=now,
        )
        insert = services.chat_insert()
        limit, since = services.rate_window(now)
        written = True  # perhaps, from here on
        stored = await (
            await conn.execute(
                insert.sql,
                insert.params(message, participant, limit=limit, since=since),
                prepare=True,
            )
        ).fetchone()
        if insert.outcome(message, stored, limit=limit) != services.Stored.NEW:
            return None  # a resend, over the limit or refused: the service says which
        payload = selectors.message_payload(message)
        await publish(
            session_id, services._event(session_id, {"type": "message", "message": payload})
        )
        return payload, True
    except psycopg.OperationalError:
        broken = True  # the connection is gone, and the lock with it
        if written:
            raise  # the message may be stored: the client's resend finds out
        logger.warning("loop connection to the database failed; posting from a thread")
        return None
    except BaseException:
        broken = True  # cancelled or failed with the lock perhaps held: close it
        raise
    finally:
        if locked and not broken:
            try:
                await conn.execute("SELECT pg_advisory_unlock(%s)", [key], prepare=True)
            except BaseException:
                broken = True
                pool.put(conn, broken=True)
                raise
        pool.put(conn, broken=broken)
