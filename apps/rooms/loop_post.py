"""A chat message posted on the socket's event loop (PostgreSQL), with no worker thread.

Why: under the fan-out benchmark the tail of a message's time was its service call in a
worker thread (bench/RESULTS.md, tenth pass): after each of its four answers from the
network (the access read, the insert, the publish, the lock's release) the thread waited
for the interpreter lock while the event loop wrote frames to other sockets. Here the same
work runs on the loop itself, through an asyncio psycopg connection: nothing waits for
the lock, and the loop's other sockets go on while the database answers.

What: what ``services.room_message_post`` does on its common path, in **one statement**
(``services._ChatPost``: the room's order lock, the access read with
``selectors._ParticipantRead``'s SQL, the access rule, then ``_ChatInsert``'s re-checks,
rate limit, insert and read marker), then the broadcast to the room's group and the order
lock's release: one round trip to PostgreSQL before the broadcast instead of two. The rule
in that statement is held to the Python one case by case (tests/rooms/test_access_read.py).

When the statement stores nothing, the caller runs the service in a thread, which gives
the answer: not allowed now (not in the room, not admitted, removed, discharged, the room
closed), muted, a resend, over the limit. So do an empty body, a risk phrase (stored with
its alert in one transaction), the risk phrases due to be read again and the login session
due to be read again, before any statement. Only PostgreSQL (development's SQLite has one
writer); ``ROOMS_CHAT_ON_LOOP = False`` turns it off.

Connections: a few per event loop (``ROOMS_LOOP_DB_CONNECTIONS``), in autocommit, opened on
first use and kept; one the server ended while it was idle is found without a round trip and
replaced. One that fails, or whose call was cancelled while it might hold the order lock, is
closed, never reused: closing the database session releases the lock.
"""

from __future__ import annotations

import asyncio
import logging
import select
import weakref
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.utils import timezone
from psycopg.pq import TransactionStatus

from apps.accounts.models import User
from apps.core.consumers import per_event_loop
from apps.core.events import group_send_async
from apps.rooms import selectors, services
from apps.rooms.models import Message, MessageKind, room_group

logger = logging.getLogger(__name__)

# Every connection opened here, whatever its loop: the tests close them between tests.
_opened: weakref.WeakSet[Any] = weakref.WeakSet()


def enabled() -> bool:
    return bool(settings.ROOMS_CHAT_ON_LOOP) and connections["default"].vendor == "postgresql"


class LoopConnections:
    """This event loop's database connections for ``post``: at most
    ``ROOMS_LOOP_DB_CONNECTIONS`` in use at once; idle ones are kept for the next."""

    def __init__(self) -> None:
        size = settings.ROOMS_LOOP_DB_CONNECTIONS
        self.free = asyncio.Semaphore(size)
        self.idle: list[Any] = []

    async def get(self) -> Any:
        await self.free.acquire()
        try:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed and not _hung_up(conn):
                    return conn
                discard(conn)
            # Django's own parameters, its prepared-statement threshold included (none with
            # DB_PREPARED_STATEMENTS=0, as apps.core.db.prepared_cursor), and its time zone.
            django_conn = connections["default"]
            params = django_conn.get_connection_params()
            params.pop("cursor_factory", None)  # Django's is a sync cursor
            conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            _opened.add(conn)
            timezone_name = django_conn.timezone_name
            if conn.info.parameter_status("TimeZone") != timezone_name:
                await conn.execute(django_conn.ops.set_time_zone_sql(), [timezone_name])
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


def _hung_up(conn: Any) -> bool:
    """Has the server ended this idle connection (restart, terminated backend)? It then
    sends a last message or closes: the socket reads ready with nothing asked. A zero-time
    poll, not a round trip, so a dead connection is never handed a chat message."""
    try:
        ready, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(ready)


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
    (nothing written). Raises what the statement raises (the message then perhaps stored:
    the socket closes, and the client's resend is acknowledged once); a broadcast the
    channel layer cannot take is logged as lost (``events.group_send_async``).

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
    """Send a room event to the room's group (every process with sockets in the room). If
    the layer is down the message stays stored and acknowledged; members fill the gap."""
    await group_send_async(room_group(session_id), event)


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
    broken = False
    try:
        now = timezone.now()
        message = Message(
            author=author,
            kind=MessageKind.CHAT,
            body=body.strip(),
            client_id=client_id,
            created_at=now,
        )
        post = services.chat_post()
        limit, since = services.rate_window(now)
        params = post.post_params(
            message, author, key=key, session_id=session_id, limit=limit, since=since
        )
        row = await (await conn.execute(post.sql, params)).fetchone()
        new_id, seq, room_id, _locked = row
        if new_id is None:
            return None  # not allowed now, a resend, over the limit: the service says which
        message.pk, message.seq, message.room_id = new_id, seq, room_id
        message._state.adding = False
        payload = selectors.message_payload(message)
        await publish(
            session_id, services._event(session_id, {"type": "message", "message": payload})
        )
        return payload, True
    except BaseException:
        # Cancelled or failed with the lock perhaps held: the connection is closed (and the
        # lock with its session); the message may be stored, so no second try here: the
        # error closes the socket and the client resends (a duplicate is acknowledged).
        broken = True
        raise
    finally:
        if not broken:  # the statement always takes the lock
            try:
                await conn.execute("SELECT pg_advisory_unlock(%s)", [key])
            except BaseException:
                broken = True
                pool.put(conn, broken=True)
                raise
        pool.put(conn, broken=broken)
