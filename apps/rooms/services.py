"""Writes for live rooms. Every entry point (the consumer, views, demo data) calls these.

Each public service checks access first (``_enter``: the user is still a member or
facilitator, not removed, the room live) and then writes — so a member discharged or
removed mid-session is refused on their very next action. Messages are stored before they
are broadcast: broadcasts go through ``send_event_on_commit``. Every message insert holds a
row lock on the room (``_lock_room``, ``_enter(lock_room=True)``, or inside the chat
message's one statement, ``_ChatInsert``) so ids in a room grow in commit order and
catch-up ("everything after id N") cannot skip a message that committed late.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Exists, OuterRef, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.db import prepared_cursor
from apps.core.events import send_event_on_commit
from apps.rooms import selectors
from apps.rooms.models import (
    Connection,
    Message,
    MessageKind,
    Participant,
    ParticipantStatus,
    RiskAlert,
    RiskPhrase,
    Room,
    SystemEvent,
    room_group,
)
from apps.rooms.selectors import OrderLock, Phase, RoomAccess
from apps.scheduling.models import Session

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger(__name__)

ENDING_NOTICE_BEFORE = dt.timedelta(minutes=5)
TYPING_THROTTLE_SECONDS = 3


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


def rate_limit() -> tuple[int, int]:
    """(messages, seconds): an author may post that many chat messages in a room in any
    window of that many seconds; e.g. 20 messages per 10 seconds."""
    return (settings.ROOMS_RATE_LIMIT_MESSAGES, settings.ROOMS_RATE_LIMIT_SECONDS)


# --- Access -------------------------------------------------------------------------------


@dataclass
class Entered:
    access: RoomAccess
    room: Room
    participant: Participant | None

    @property
    def session(self) -> Session:
        return self.access.session


def room_get_or_create(*, session: Session) -> Room:
    room = Room.objects.filter(session=session).first()
    if room is not None:
        return room
    try:
        with transaction.atomic():
            return Room.objects.create(session=session)
    except IntegrityError:  # created concurrently
        return Room.objects.get(session=session)


ORDER_LOCK_NAMESPACE = 0x524F4F4D  # "ROOM": keeps our advisory-lock keys apart


def order_lock_key(session_id: int | str) -> int:
    """The advisory-lock key of a room's order lock (``_in_room_order``)."""
    return (ORDER_LOCK_NAMESPACE << 32) | (int(session_id) & 0xFFFFFFFF)


@contextmanager
def _in_room_order(session_id: int | str, *, lazy: bool = False) -> Iterator[OrderLock | None]:
    """Hold this room's order lock from before its transaction until its broadcasts are out.

    The room's row lock gives message ids in commit order, but two daphne processes each
    publish after their own commit and could publish out of that order, so a client could
    see id 12 before 11 and, reconnecting in between, catch up "after 12" and miss 11. On
    PostgreSQL a session-level advisory lock per room, taken before the transaction and
    released after the on-commit broadcasts (which run inside it), orders the publishes
    too. SQLite (one process in development) has one writer anyway.

    ``lazy`` (a chat message): the lock is yielded untaken for the service's access read
    to take in the same statement (``selectors.OrderLock``: one round trip fewer on the
    way to the broadcast); the service calls ``_take_order_lock`` before it writes, which
    takes it only if that read did not. Yields None where no lock is needed."""
    if db_connection.vendor != "postgresql" or db_connection.in_atomic_block:
        yield None  # inside an outer transaction the broadcasts only go out after it: no help
        return
    try:
        key = order_lock_key(session_id)
    except (TypeError, ValueError):
        yield None
        return
    order = OrderLock(key)
    if not lazy:
        _take_order_lock(order)
    try:
        yield order
    finally:
        if order.taken:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _take_order_lock(order: OrderLock | None) -> None:
    """Take the room's order lock unless it is held (or not needed: None)."""
    if order is not None and not order.taken:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [order.key])
        order.taken = True


def in_room_order(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator (outside ``@transaction.atomic``) for services that post messages."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _in_room_order(kwargs.get("session_id", "")):  # type: ignore[arg-type]
            return fn(*args, **kwargs)

    return wrapper


def _lock_room(room: Room) -> Room:
    """Serialise writes that allocate message ids in this room (see the module doc)."""
    return Room.objects.select_for_update().get(pk=room.pk)


def _enter(
    *,
    user: User,
    session_id: int | str,
    facilitator: bool = False,
    admitted: bool = True,
    lock_room: bool = False,
    order: OrderLock | None = None,
) -> Entered:
    """Check that ``user`` may act in the live room now; raise RoomForbidden/RoomClosed.

    Someone already in the room (every chat message, read marker, ping...) costs one
    query: their participant row with its room and session and the access rule's facts
    (``selectors.participant_access``). Anyone else goes the long way.
    ``lock_room`` (inside a transaction) takes the room's row lock with that query; else
    ``order`` (a chat message's untaken order lock) may be taken by it."""
    participant, known = selectors.participant_access(
        user=user, session_id=session_id, lock_room=lock_room, order=order
    )
    if participant is not None and known is not None:
        access = known
        room = participant.room
    else:
        found = selectors.room_access(user=user, session_id=session_id)
        if found is None or not found.may_join_live:
            raise RoomForbidden()
        access = found
        room = room_get_or_create(session=access.session)
    if not access.may_join_live:
        raise RoomForbidden()
    if facilitator and not access.is_facilitator:
        raise RoomError(_("Only a facilitator can do that."), code="not_facilitator")
    if selectors.room_phase(session=access.session, room=room) != Phase.LIVE:
        raise RoomClosed()
    if participant is not None and participant.status == ParticipantStatus.REMOVED:
        raise RoomForbidden()
    if admitted and (participant is None or participant.status != ParticipantStatus.ADMITTED):
        raise RoomError(_("You are waiting to be admitted."), code="not_admitted")
    return Entered(access=access, room=room, participant=participant)


def room_check(*, user: User, session_id: int | str) -> RoomAccess:
    """The connect-time check: may ``user`` open a socket to this room now?"""
    entered = _enter(user=user, session_id=session_id, admitted=False)
    return entered.access


# --- Broadcast helpers ----------------------------------------------------------------------


def _event(session_id: int, payload: dict[str, Any], *, staff: bool = False) -> dict[str, Any]:
    """A room broadcast carries its frame already encoded: each socket that gets it sends
    the text as it is (encoding it once per socket was 5% of a daphne process's time under
    the fan-out benchmark, bench/RESULTS.md, ninth pass). ``room`` tells each process's room
    hub which room it is for (consumers.RoomHub); ``staff``: for facilitators only."""
    event: dict[str, Any] = {
        "type": "room.event",
        "room": session_id,
        "text": json.dumps({"v": 1, **payload}),
    }
    if staff:
        event["staff"] = True
    return event


# Everything for a room goes to its one group, in the order it was sent: broadcasts, the
# facilitators' events and each user's control events (admitted, removed, muted, ended). A
# process subscribes to the group once and hands each event to the sockets it is for, so a
# control event never overtakes, nor is overtaken by, the room's broadcasts.
def _broadcast(session_id: int, payload: dict[str, Any]) -> None:
    send_event_on_commit(room_group(session_id), _event(session_id, payload))


def _to_staff(session_id: int, payload: dict[str, Any]) -> None:
    send_event_on_commit(room_group(session_id), _event(session_id, payload, staff=True))


def _control(session_id: int, user_id: int | None, action: str, **data: Any) -> None:
    """A control event for one user's sockets in the room (every socket's if ``user_id`` is
    None), lobby sockets included."""
    send_event_on_commit(
        room_group(session_id),
        {"type": "room.control", "room": session_id, "user_id": user_id, "action": action, **data},
    )


def _broadcast_presence(room: Room, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Tell the room who is in it now; returns that list (a join's welcome frame reuses it)."""
    people = selectors.presence(room=room, now=now)
    _broadcast(room.session_id, {"type": "presence", "people": people})
    return people


def _broadcast_lobby(room: Room) -> None:
    _to_staff(room.session_id, {"type": "lobby", "people": selectors.lobby(room=room)})


def _next_seq(room: Room) -> int:
    """Give out the room's next message ``seq`` (and note it on ``room``). The caller holds
    the room's row lock, in the transaction that stores the message: a rollback gives the
    number back, so seqs have no holes. In the database (``UPDATE … RETURNING``), not from
    ``room`` as loaded, so a stale instance can never hand a number out twice.
    (PostgreSQL's one-statement chat insert does the same in SQL: ``_ChatInsert``.)"""
    table = Room._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET message_seq = message_seq + 1"  # noqa: S608 (model metadata)
            " WHERE id = %s RETURNING message_seq",
            [room.pk],
        )
        (seq,) = cursor.fetchone()
    room.message_seq = seq
    return int(seq)


def _system_message(
    room: Room, event: str, *, subject: User | None = None, now: dt.datetime | None = None
) -> Message:
    """Store then broadcast a system message. The caller holds the room lock."""
    message = Message.objects.create(
        room=room,
        kind=MessageKind.SYSTEM,
        system_event=event,
        subject=subject,
        created_at=now or timezone.now(),
        seq=_next_seq(room),
    )
    _broadcast(room.session_id, {"type": "message", "message": selectors.message_payload(message)})
    return message


def _record_attendance(
    session: Session, user: User, joined_at: dt.datetime, left_at: dt.datetime | None
) -> None:
    """Feed the scheduling app's attendance (it ignores non-members such as facilitators)."""
    if not user.is_patient:
        return
    from apps.scheduling.services import attendance_record_presence

    attendance_record_presence(session=session, patient=user, joined_at=joined_at, left_at=left_at)


def _fresh_connections(room: Room, user_id: int, now: dt.datetime) -> Any:
    return Connection.objects.filter(
        room=room, user_id=user_id, seen_at__gte=now - selectors.PRESENCE_STALE
    )


# --- Joining and leaving ----------------------------------------------------------------


@in_room_order
@transaction.atomic
def room_connect(*, user: User, session_id: int | str, channel_name: str) -> dict[str, Any]:
    """Register an open socket. Facilitators are admitted; a member is admitted at once if
    they were admitted before, or the group auto-admits and the room is not locked;
    otherwise they wait in the lobby. Returns the first frame to send (welcome/waiting)."""
    entered = _enter(user=user, session_id=session_id, admitted=False)
    now = timezone.now()
    room = _lock_room(entered.room)
    session = room.session = entered.session  # the same row: not read again
    facilitator = entered.access.is_facilitator
    participant, _ = Participant.objects.get_or_create(
        room=room, user=user, defaults={"is_facilitator": facilitator}
    )
    if participant.status == ParticipantStatus.REMOVED:  # removed in a race
        raise RoomForbidden()
    was_present = _fresh_connections(room, user.pk, now).exists()
    # One upsert (a channel name is unique; a reused one moves to this room and user).
    Connection.objects.bulk_create(
        [Connection(channel_name=channel_name, room=room, user=user, joined_at=now, seen_at=now)],
        update_conflicts=True,
        unique_fields=["channel_name"],
        update_fields=["room", "user", "joined_at", "seen_at"],
    )
    if participant.status == ParticipantStatus.WAITING:
        if facilitator or (session.group.auto_admit_members and not room.locked):
            participant.status = ParticipantStatus.ADMITTED
            participant.admitted_at = now
            participant.is_facilitator = facilitator
            participant.save(update_fields=["status", "admitted_at", "is_facilitator"])
        else:
            if not was_present:
                _broadcast_lobby(room)
            return {"type": "waiting", "v": 1, "session_id": session.pk, "locked": room.locked}
    people = None
    if not was_present:
        if participant.away_since is None:
            _system_message(room, SystemEvent.JOINED, subject=user, now=now)
        else:  # back before their leaving was announced: nothing to say
            participant.away_since = None
            participant.save(update_fields=["away_since"])
        people = _broadcast_presence(room, now=now)
    _record_attendance(session, user, now, None)
    return welcome_payload(room=room, participant=participant, now=now, presence=people)


def welcome_payload(
    *,
    room: Room,
    participant: Participant,
    now: dt.datetime | None = None,
    presence: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The first frame of an admitted socket; ``presence`` if the caller just read it."""
    now = now or timezone.now()
    session = room.session
    data: dict[str, Any] = {
        "type": "welcome",
        "v": 1,
        "session_id": session.pk,
        "you": selectors.participant_payload(participant, now=now),
        "phase": Phase.LIVE,
        "live_until": selectors.room_live_until(session=session).isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "locked": room.locked,
        "seq": room.message_seq,  # the newest message's: the client checks it has them all
        "pinned": (
            {"text": room.pinned_text, "at": room.pinned_at.isoformat() if room.pinned_at else None}
            if room.pinned_text
            else None
        ),
        "presence": presence if presence is not None else selectors.presence(room=room, now=now),
    }
    if participant.is_facilitator:
        data["lobby"] = selectors.lobby(room=room, now=now)
        data["read_markers"] = selectors.read_markers(room=room)
        data["auto_admit"] = session.group.auto_admit_members
    return data


@in_room_order
@transaction.atomic
def room_disconnect(*, user: User, session_id: int, channel_name: str) -> None:
    """A socket closed: close its presence interval (attendance) and say who left. No access
    check: leaving is always recorded, even for someone just removed."""
    connection = Connection.objects.filter(channel_name=channel_name).select_related("room").first()
    if connection is None:
        return
    now = timezone.now()
    room = _lock_room(connection.room)
    connection.delete()
    participant = Participant.objects.filter(room=room, user=user).first()
    if participant is None:
        return
    still_here = _fresh_connections(room, user.pk, now).exists()
    if participant.status == ParticipantStatus.ADMITTED:
        session = Session.objects.get(pk=room.session_id)
        _record_attendance(session, user, connection.joined_at, now)
        if not still_here:
            if room.ended_at is None:
                participant.away_since = now
                participant.save(update_fields=["away_since"])
            _broadcast_presence(room)
    elif participant.status == ParticipantStatus.WAITING and not still_here:
        _broadcast_lobby(room)


def rooms_tick(*, rooms: dict[int, list[tuple[str, int]]]) -> dict[str, RoomError]:
    """The periodic check of some rooms for one process's sockets, by session id
    ``{session id: [(channel name, user id)]}``: keep their presence fresh, re-check their
    users' access, close the presence of sockets whose process died, and post "left" and
    "ending in 5 minutes" when due. Returns the sockets that must close, with why
    (RoomForbidden/RoomClosed).

    Five queries when nothing is due (the rooms with their sessions, groups and programs and
    whether a notice is due; the access rule's three; the presence update), however many
    rooms and sockets: each process checks its rooms in a few batches every
    ``RoomConsumer.check_seconds`` (a room at a time cost 10 ms of CPU per room, most of it
    compiling the same five queries; bench/RESULTS.md, ninth pass)."""
    now = timezone.now()
    found = {
        room.session_id: room
        for room in Room.objects.select_related("session__group__program")
        .annotate(
            stale_connection=Exists(
                Connection.objects.filter(
                    room=OuterRef("pk"), seen_at__lt=now - selectors.PRESENCE_STALE
                )
            ),
            departure_due=Exists(
                Participant.objects.filter(room=OuterRef("pk"), away_since__lte=now - left_after())
            ),
        )
        .filter(session_id__in=list(rooms))
    }
    refused: dict[str, RoomError] = {}
    live: dict[Room, list[tuple[str, int]]] = {}
    for session_id, sockets in rooms.items():
        found_room = found.get(session_id)
        if found_room is None or (
            selectors.room_phase(session=found_room.session, room=found_room, now=now) != Phase.LIVE
        ):
            refused.update({channel: RoomClosed() for channel, _ in sockets})
        else:
            live[found_room] = sockets
    allowed = selectors.users_allowed_live_in_rooms(
        {room.session: {user_id for _, user_id in sockets} for room, sockets in live.items()}
    )
    fresh = []
    for room, sockets in live.items():
        may = allowed.get(room.session_id, set())
        for channel, user_id in sockets:
            if user_id in may:
                fresh.append(channel)
            else:
                refused[channel] = RoomForbidden()
    if fresh:
        Connection.objects.filter(channel_name__in=fresh).update(seen_at=now)
    for room in live:
        if not _notices_due(room=room, now=now):
            continue
        # Only now hold the room's order lock (these post messages); the usual tick posts
        # nothing and so never makes a chat message wait.
        try:
            with _in_room_order(room.session_id):
                room_reap_stale_connections(room=room, now=now)
                room_announce_departures(room=room, now=now)
                room_announce_ending(room=room, now=now)
        except Exception:  # one room's notices must not stop the others'
            logger.exception("room notices failed for session %s", room.session_id)
    return refused


def _notices_due(*, room: Room, now: dt.datetime) -> bool:
    """Is there a dead socket to reap, a departure or the ending notice to post? (``room``
    as ``rooms_tick`` reads it: with ``stale_connection`` and ``departure_due``.)"""
    session = room.session
    if room.ending_notice_at is None and (
        session.ends_at - ENDING_NOTICE_BEFORE <= now < session.ends_at
    ):
        return True
    return bool(room.stale_connection or room.departure_due)  # type: ignore[attr-defined]


def room_ping(*, session_id: int, channel_name: str) -> dict[str, Any]:
    """A client's keep-alive: refresh this socket's presence and post "left" and "ending in
    5 minutes" if due (three queries when nothing is). Access is re-checked by the next
    ``rooms_tick`` (at most ``check_seconds`` away) and by every action (``_enter``)."""
    now = timezone.now()
    Connection.objects.filter(channel_name=channel_name).update(seen_at=now)
    room = Room.objects.select_related("session").filter(session_id=session_id).first()
    if room is not None and room.ended_at is None:
        room_announce_departures(room=room, now=now)
        room_announce_ending(room=room, now=now)
    # The newest message's seq as read: a client behind it lost a broadcast and syncs.
    seq = room.message_seq if room is not None else 0
    return {"type": "pong", "v": 1, "at": now.isoformat(), "seq": seq}


def room_reap_stale_connections(*, room: Room, now: dt.datetime | None = None) -> int:
    """Close the presence of sockets whose process died without saying so (no heartbeat
    for ``PRESENCE_STALE``): their attendance interval ends when they were last seen, and
    "left" is announced if the person has no other socket. Each row is claimed by deleting
    it, so two checks never close it twice."""
    now = now or timezone.now()
    stale = list(
        Connection.objects.filter(room=room, seen_at__lt=now - selectors.PRESENCE_STALE)
        .select_related("user")
        .order_by("pk")
    )
    reaped = 0
    for connection in stale:
        with transaction.atomic():
            if not Connection.objects.filter(pk=connection.pk).delete()[0]:
                continue
            reaped += 1
            participant = Participant.objects.filter(room=room, user=connection.user).first()
            if participant is None or participant.status != ParticipantStatus.ADMITTED:
                continue
            session = Session.objects.get(pk=room.session_id)
            last_seen = max(connection.seen_at, connection.joined_at)
            _record_attendance(session, connection.user, connection.joined_at, last_seen)
            if (
                participant.away_since is None
                and not _fresh_connections(room, connection.user_id, now).exists()
            ):
                participant.away_since = last_seen
                participant.save(update_fields=["away_since"])
    if reaped:
        with transaction.atomic():
            _broadcast_presence(room)
    return reaped


def left_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.ROOMS_LEFT_ANNOUNCE_SECONDS)


def room_announce_departures(*, room: Room, now: dt.datetime | None = None) -> int:
    """Post "<name> left" for people away longer than ``ROOMS_LEFT_ANNOUNCE_SECONDS``.
    Each departure is claimed with a conditional update, so it is posted once however many
    sockets run this check."""
    now = now or timezone.now()
    cutoff = now - left_after()
    due = list(
        Participant.objects.filter(room=room, away_since__lte=cutoff).values_list(
            "pk", "away_since"
        )
    )
    posted = 0
    for pk, away_since in due:
        with transaction.atomic():
            locked = _lock_room(room)
            claimed = Participant.objects.filter(pk=pk, away_since=away_since).update(
                away_since=None
            )
            if not claimed:
                continue
            participant = Participant.objects.select_related("user").get(pk=pk)
            if _fresh_connections(locked, participant.user_id, now).exists():
                continue  # back in the meantime
            _system_message(locked, SystemEvent.LEFT, subject=participant.user, now=now)
            posted += 1
    return posted


def room_announce_ending(*, room: Room, now: dt.datetime | None = None) -> bool:
    """Post "the session ends in 5 minutes" once (claimed by a conditional update)."""
    now = now or timezone.now()
    session = room.session
    if not (session.ends_at - ENDING_NOTICE_BEFORE <= now < session.ends_at):
        return False
    with transaction.atomic():
        claimed = Room.objects.filter(pk=room.pk, ending_notice_at__isnull=True).update(
            ending_notice_at=now
        )
        if not claimed:
            return False
        _system_message(_lock_room(room), SystemEvent.ENDING_SOON, now=now)
    return True


# --- Chat -----------------------------------------------------------------------------------


# Active risk phrases, compiled, kept per process for this long: every patient's chat
# message is matched, and the list changes rarely (in admin). A change made in this process
# applies at once (signals in apps.py); other processes pick it up within this time.
RISK_PHRASES_CACHE_SECONDS = 30.0
_risk_patterns_cache: tuple[float, list[tuple[str, re.Pattern[str]]]] | None = None


def risk_phrases_changed() -> None:
    """Forget the cached phrases (a phrase was saved or deleted)."""
    global _risk_patterns_cache
    _risk_patterns_cache = None


def _risk_patterns() -> list[tuple[str, re.Pattern[str]]]:
    global _risk_patterns_cache
    cached = risk_patterns_cached()
    if cached is not None:
        return cached
    patterns = [
        (
            phrase,
            re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in phrase.split()) + r"(?!\w)"),
        )
        for phrase in RiskPhrase.objects.filter(active=True).values_list("phrase", flat=True)
    ]
    _risk_patterns_cache = (time.monotonic(), patterns)
    return patterns


def risk_patterns_cached() -> list[tuple[str, re.Pattern[str]]] | None:
    """The active risk phrases if this process read them recently, else None (no query)."""
    cached = _risk_patterns_cache
    if cached is not None and time.monotonic() - cached[0] < RISK_PHRASES_CACHE_SECONDS:
        return cached[1]
    return None


def _risk_match(body: str, patterns: list[tuple[str, re.Pattern[str]]] | None = None) -> str | None:
    text = " ".join(body.lower().split())
    for phrase, pattern in patterns if patterns is not None else _risk_patterns():
        if pattern.search(text):
            return phrase
    return None


def risk_phrase_match(text: str) -> str | None:
    """The first active risk phrase in ``text``, else None: the one scan of patient free text
    (group chat, secure messages, check-in notes), so a phrase added in admin reaches all."""
    return _risk_match(text)


def crisis_plan_url(patient: User) -> str | None:
    """Where staff read the patient's crisis (safety) plan, if the enrollment app serves it."""
    for name in ("enrollment:patient_safety_plan",):
        try:
            return reverse(name, kwargs={"patient_id": patient.pk})
        except NoReverseMatch:
            continue
    return None


def _raise_risk_alert(*, message: Message, patient: User, phrase: str, session: Session) -> None:
    """A private alert to the facilitators, in the room (staff group), plus a safety flag in
    the measures app, which alerts the program's clinicians (e-mail/in-app, on-call
    escalation) and is where a clinician acknowledges it. The patient sees nothing different."""
    from apps.measures.services import safety_flag_raise

    link = f"/rooms/{session.pk}/#m-{message.pk}"
    flag = safety_flag_raise(
        patient=patient,
        program=session.group.program,
        severity="high",
        source="room_message",
        # Ids only: the flag page links back to the room, where the message is.
        reason=f"Crisis phrase in a group chat message (session {session.pk}, "
        f"message {message.pk})",
    )
    alert = RiskAlert.objects.create(
        message=message, patient=patient, phrase=phrase, safety_flag=flag
    )
    audit_record(
        actor=None,
        action=AuditAction.CREATE,
        obj=alert,
        patient=patient,
        detail="risk phrase in group chat",
    )
    try:
        flag_url: str | None = reverse("measures:flag_detail", kwargs={"flag_id": flag.pk})
    except NoReverseMatch:
        flag_url = None
    _to_staff(
        session.pk,
        {
            "type": "risk_alert",
            "alert_id": alert.pk,
            "message_id": message.pk,
            "user": {"id": patient.pk, "name": selectors.display_name(patient)},
            "phrase": phrase,
            "link": link,
            "flag_url": flag_url,
            "crisis_plan_url": crisis_plan_url(patient),
        },
    )


class Stored:
    """What ``_store_chat_message`` did with a new chat message."""

    NEW = "new"  # stored; its id is on the message
    DUPLICATE = "duplicate"  # the author's message with this client id is already stored
    OVER_LIMIT = "over_limit"  # the author sent ``limit`` messages here in the last window
    REFUSED = "refused"  # removed, muted or the room ended since the access check


class _ChatInsert:
    """PostgreSQL: a chat message checked, stored and its author's read marker moved past
    it in **one statement** run on its own (autocommit), where the ORM takes a transaction
    and eight round trips. In that statement, with the rows locked:

    - the room's row (``FOR UPDATE``, as ``_lock_room``) and not ended: ids in a room are
      given in commit order;
    - the author's participant row (``FOR NO KEY UPDATE``), still admitted and not muted:
      a removal or mute that committed after the access check is seen here (PostgreSQL
      re-reads a locked row's newest version and re-checks these conditions), so it is
      never overtaken by a message that was already on its way;
    - the rate limit: the author's chat messages in this room over the last window
      (a sliding window, counted on the ``message_rate`` index);
    - ``INSERT ... ON CONFLICT DO NOTHING`` (a resend — the unique client id — inserts
      nothing) with the room's next ``seq``, read from the room's row as locked (its newest
      version, whatever the statement's snapshot), then the room's ``message_seq`` moved to
      it only if the row went in (no holes), and the read marker's ``UPDATE``.

    Columns and values come from the model's fields, as the ORM's own insert prepares
    them; table and column names from the models' metadata, values only as parameters."""

    def __init__(self) -> None:
        self.fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
        self.sql = (
            "WITH"  # noqa: S608 (names from the models' metadata, values as parameters)
            + self.storing(room_id="%s", participant_id="%s", room_value="%s")
            + " SELECT (SELECT id FROM new), (SELECT seq FROM new), EXISTS (SELECT 1 FROM room),"
            " EXISTS (SELECT 1 FROM author), (SELECT n FROM recent)"
        )

    def storing(self, *, room_id: str, participant_id: str, room_value: str) -> str:
        """The statement's CTEs that lock, check, count and store (``room``, ``author``,
        ``recent``, ``new``, ``numbered``, ``seen``), given SQL for the room's and the
        participant's ids and the message's room column. Parameters, in order: those of
        ``room_id`` and ``participant_id``, then ``storing_params``'s."""
        messages, participants = Message._meta.db_table, Participant._meta.db_table
        rooms = Room._meta.db_table
        columns = ", ".join(str(f.column) for f in self.fields)
        given = {"room": room_value, "seq": "(SELECT message_seq + 1 FROM room)"}
        marks = ", ".join(given.get(f.name, "%s") for f in self.fields)
        return (
            f" room AS MATERIALIZED (SELECT id, message_seq FROM {rooms}"  # noqa: S608
            f" WHERE id = {room_id} AND ended_at IS NULL FOR UPDATE),"
            f" author AS MATERIALIZED (SELECT id FROM {participants}"
            f" WHERE id = {participant_id} AND status = %s"
            " AND (muted_until IS NULL OR muted_until <= %s) FOR NO KEY UPDATE),"
            f" recent AS MATERIALIZED (SELECT count(*) AS n FROM {messages}"
            " WHERE room_id = (SELECT id FROM room) AND author_id = %s AND kind = %s"
            " AND created_at > %s),"
            f" new AS (INSERT INTO {messages} ({columns}) SELECT {marks}"
            " WHERE EXISTS (SELECT 1 FROM room) AND EXISTS (SELECT 1 FROM author)"
            " AND (SELECT n FROM recent) < %s"
            " ON CONFLICT DO NOTHING RETURNING id, seq),"
            f" numbered AS (UPDATE {rooms} SET message_seq = (SELECT seq FROM new)"
            " WHERE id = (SELECT id FROM room) AND EXISTS (SELECT 1 FROM new)),"
            f" seen AS (UPDATE {participants} SET last_read_message_id = (SELECT id FROM new)"
            " WHERE id = (SELECT id FROM author) AND last_read_message_id < (SELECT id FROM new))"
        )

    def storing_params(
        self, message: Message, *, limit: int, since: dt.datetime, room_value: bool = True
    ) -> list[Any]:
        """``storing``'s own parameters for ``message`` (no query); ``room_value``: the
        message's room id is one of them (not when ``storing`` was given SQL for it)."""
        prepared = {
            f.name: f.get_db_prep_save(f.pre_save(message, add=True), connection=db_connection)
            for f in self.fields
            if f.name != "seq"  # given in SQL (``storing``)
        }
        values = [v for name, v in prepared.items() if room_value or name != "room"]
        since_value = Message._meta.get_field("created_at").get_db_prep_value(
            since, connection=db_connection
        )
        return [
            ParticipantStatus.ADMITTED.value,
            prepared["created_at"],
            message.author_id,
            MessageKind.CHAT.value,
            since_value,
            *values,
            limit,
        ]

    def params(
        self, message: Message, participant: Participant, *, limit: int, since: dt.datetime
    ) -> list[Any]:
        """The statement's parameters for ``message`` (no query)."""
        return [
            message.room_id,
            participant.pk,
            *self.storing_params(message, limit=limit, since=since),
        ]

    def outcome(self, message: Message, row: Sequence[Any], *, limit: int) -> str:
        """``Stored`` from the statement's row; a NEW message gets its id and seq."""
        new_id, seq, room_open, author_may_post, recent = row
        if new_id is not None:
            message.pk, message.seq = new_id, seq
            message._state.adding = False
            message._state.db = db_connection.alias
            return Stored.NEW
        if not (room_open and author_may_post):
            return Stored.REFUSED
        return Stored.OVER_LIMIT if recent >= limit else Stored.DUPLICATE

    def __call__(
        self, message: Message, participant: Participant, *, limit: int, since: dt.datetime
    ) -> str:
        with prepared_cursor() as cursor:
            cursor.execute(self.sql, self.params(message, participant, limit=limit, since=since))
            row = cursor.fetchone()
        return self.outcome(message, row, limit=limit)


class _ChatPost(_ChatInsert):
    """PostgreSQL, for a socket's event loop (``loop_post``): ``_ChatInsert`` with the room's
    order lock and the access read in the **same statement**, one round trip in all.

    ``ordered`` takes the order lock first (once, whatever else is found); ``facts`` reads
    the author's participant row with its room, session and program and the access facts,
    with ``selectors._ParticipantRead``'s own SQL for them; ``access`` keeps the row only if
    the rule lets the author post now — as ``selectors.participant_access`` and ``_enter``
    decide in Python: a patient with a covering membership and a live seat
    (an open-ended one, or one lasting to today in the program's zone or the session's date
    if later), or the session's or group's facilitator; admitted; the session scheduled and
    its room open (from ``ROOMS_OPEN_MINUTES_BEFORE`` before its start to
    ``ROOMS_GRACE_MINUTES`` after its end) — then ``_ChatInsert``'s CTEs re-check, count and
    store. tests/rooms/test_access_read.py holds it to the rule case by case.

    Nothing is stored unless every check passes; the caller then runs the service, which
    says why. Read with the statement's snapshot, taken before the lock was waited for: the
    rows locked (room, author) are re-checked at their newest versions; the access facts
    and the rate limit's count may be as old as that wait (milliseconds)."""

    def __init__(self) -> None:
        super().__init__()
        read = selectors.participant_read()
        self.facts_params = read.params
        self.sql = (
            "WITH ordered AS MATERIALIZED (SELECT pg_advisory_lock(%s) AS locked),"  # noqa: S608
            " facts AS MATERIALIZED (SELECT p.id AS participant_id, r.id AS room_id,"
            " p.status AS status, s.status AS session_status, r.ended_at, s.starts_at,"
            " s.ends_at, s.occurrence_date, s.facilitator_id, prog.time_zone,"
            f" {read.facts}"
            f" FROM ordered LEFT JOIN ({read.tables}) ON r.session_id = %s AND p.user_id = %s),"
            " access AS MATERIALIZED (SELECT participant_id, room_id FROM facts"
            " WHERE participant_id IS NOT NULL AND status = %s AND session_status = %s"
            " AND ended_at IS NULL AND %s >= starts_at - %s AND %s < ends_at + %s"
            " AND CASE WHEN %s THEN covering > 0 AND (open_seats > 0 OR seat_until >="
            " GREATEST((%s AT TIME ZONE time_zone)::date, occurrence_date))"
            " ELSE facilitator_id = %s OR facilitates > 0 END),"
            + self.storing(
                room_id="(SELECT room_id FROM access)",
                participant_id="(SELECT participant_id FROM access)",
                room_value="(SELECT id FROM room)",
            )
            + " SELECT (SELECT id FROM new), (SELECT seq FROM new), (SELECT room_id FROM access),"
            " (SELECT locked FROM ordered) IS NOT NULL"
        )

    def post_params(
        self,
        message: Message,
        author: User,
        *,
        key: int,
        session_id: int,
        limit: int,
        since: dt.datetime,
    ) -> list[Any]:
        """The parameters for ``message`` by ``author`` in ``session_id``'s room."""
        from apps.scheduling.models import SessionStatus

        now = message.created_at
        return [
            key,
            *self.facts_params,
            session_id,
            author.pk,
            ParticipantStatus.ADMITTED.value,
            SessionStatus.SCHEDULED.value,
            now,
            selectors.open_before(),
            now,
            selectors.grace(),
            author.is_patient,
            now,
            author.pk,
            *self.storing_params(message, limit=limit, since=since, room_value=False),
        ]


_chat_post: _ChatPost | None = None


def chat_post() -> _ChatPost:
    """The process's ``_ChatPost`` (written once, on first use)."""
    global _chat_post
    if _chat_post is None:
        _chat_post = _ChatPost()
    return _chat_post


_chat_insert: _ChatInsert | None = None


def _store_chat_message_orm(
    message: Message, participant: Participant, *, limit: int, since: dt.datetime
) -> str:
    """``_ChatInsert`` for other databases (SQLite in development): the same checks and
    writes with the ORM, in a transaction."""
    with transaction.atomic():
        if _lock_room(message.room).ended_at is not None:
            return Stored.REFUSED
        may_post = (
            Participant.objects.select_for_update()
            .filter(pk=participant.pk, status=ParticipantStatus.ADMITTED)
            .filter(Q(muted_until=None) | Q(muted_until__lte=message.created_at))
            .exists()
        )
        if not may_post:
            return Stored.REFUSED
        recent = Message.objects.filter(
            room_id=message.room_id,
            author_id=message.author_id,
            kind=MessageKind.CHAT,
            created_at__gt=since,
        ).count()
        try:
            # A savepoint: a duplicate leaves the transaction usable, its seq given back.
            with transaction.atomic():
                if recent >= limit:
                    return Stored.OVER_LIMIT
                message.seq = _next_seq(message.room)
                message.save(force_insert=True)
        except IntegrityError:
            return Stored.DUPLICATE
        Participant.objects.filter(pk=participant.pk, last_read_message_id__lt=message.pk).update(
            last_read_message_id=message.pk
        )
    return Stored.NEW


def _store_chat_message(message: Message, participant: Participant) -> str:
    """Store a new chat message and mark it read for its author, if the author may still
    post and is under the rate limit (``Stored``: nothing is written unless NEW)."""
    limit, since = rate_window(message.created_at)
    if db_connection.vendor == "postgresql":
        return chat_insert()(message, participant, limit=limit, since=since)
    return _store_chat_message_orm(message, participant, limit=limit, since=since)


def chat_insert() -> _ChatInsert:
    """The process's ``_ChatInsert`` (written once, on first use)."""
    global _chat_insert
    if _chat_insert is None:
        _chat_insert = _ChatInsert()
    return _chat_insert


def rate_window(now: dt.datetime) -> tuple[int, dt.datetime]:
    """The chat rate limit: (messages allowed, counted since)."""
    limit, window = rate_limit()
    return limit, now - dt.timedelta(seconds=window)


def room_message_post(
    *, author: User, session_id: int | str, body: str, client_id: str
) -> tuple[dict[str, Any], bool]:
    """Store a chat message, then broadcast it. Returns (message payload, created).

    Idempotent per (room, author, client_id): a resend returns the stored message and
    broadcasts nothing new (the unique constraint finds it; refusals look it up first, so
    a resend of a stored message is answered even when the author is now muted or over
    the limit). Refused (RoomError) when muted or over the rate limit (``rate_limit()``
    chat messages per author and room in any window of that many seconds).

    Two round trips to the database on PostgreSQL before the broadcast, no transaction:
    the access read, which also takes the room's order lock (``_in_room_order``), then one
    statement that re-checks what may have changed since (removed, muted, room ended) with
    the rows locked, counts the rate limit, stores the message and moves the read marker
    (``_ChatInsert``); the broadcast goes out once it is stored, then the order lock is
    released. A message with a risk phrase is stored in one transaction with its alert, so
    neither is kept without the other.
    """
    with _in_room_order(session_id, lazy=True) as order:
        return _post_chat_message(
            author=author, session_id=session_id, body=body, client_id=client_id, order=order
        )


def _post_chat_message(
    *, author: User, session_id: int | str, body: str, client_id: str, order: OrderLock | None
) -> tuple[dict[str, Any], bool]:
    entered = _enter(user=author, session_id=session_id, order=order)
    _take_order_lock(order)  # if the access read could not (it always can for a member)
    participant = entered.participant
    assert participant is not None
    now = timezone.now()

    def stored() -> Message | None:
        return (
            Message.objects.filter(room=entered.room, author=author, client_id=client_id)
            .select_related("author")
            .first()
        )

    def muted(until: dt.datetime) -> RoomError:
        return RoomError(
            _("A facilitator has muted you for a few minutes."),
            code="muted",
            until=until.isoformat(),
        )

    if until := selectors.mute_in_force(participant, now=now):
        if existing := stored():
            return selectors.message_payload(existing), False
        raise muted(until)
    body = body.strip()
    if not body:
        raise RoomError(_("The message is empty."), code="invalid_fields")
    phrase = _risk_match(body) if author.is_patient else None
    message = Message(
        room=entered.room,
        author=author,
        kind=MessageKind.CHAT,
        body=body,
        client_id=client_id,
        created_at=now,
    )
    with transaction.atomic() if phrase else contextlib.nullcontext():
        outcome = _store_chat_message(message, participant)
        if outcome == Stored.NEW:
            payload = selectors.message_payload(message)
            _broadcast(entered.room.session_id, {"type": "message", "message": payload})
            if phrase:
                _raise_risk_alert(
                    message=message, patient=author, phrase=phrase, session=entered.session
                )
            return payload, True
    if existing := stored():  # a resend: answered even when muted or over the limit now
        return selectors.message_payload(existing), False
    if outcome == Stored.OVER_LIMIT:
        raise RoomError(_("You are sending messages too fast. Wait a few seconds."), "rate_limited")
    if outcome == Stored.REFUSED:  # changed since the access check: say what changed
        again = _enter(user=author, session_id=session_id)
        assert again.participant is not None
        if until := selectors.mute_in_force(again.participant, now=now):
            raise muted(until)
        raise RoomForbidden()
    raise IntegrityError("chat message refused by a constraint")


def _audit_staff_read(user: User, room: Room, what: str) -> None:
    """Staff reads of a room's messages are audited (a patient reads their own group's)."""
    if not user.is_patient:
        audit_record(actor=user, action=AuditAction.VIEW, obj=room, detail=what)


def room_sync(*, user: User, session_id: int | str, after: int) -> dict[str, Any]:
    """Catch-up after reconnecting: messages after ``after`` in order (a page of 200; the
    client asks again while ``more``), and which earlier messages were deleted since."""
    entered = _enter(user=user, session_id=session_id)
    rows, more = selectors.messages_after(room=entered.room, after=after)
    _audit_staff_read(user, entered.room, "room catch-up")
    return {
        "type": "messages",
        "v": 1,
        "after": after,
        "messages": [selectors.message_payload(m) for m in rows],
        "more": more,
        "deleted": selectors.deleted_ids(room=entered.room, after=after),
    }


def room_history(*, user: User, session_id: int | str, before: int, limit: int) -> dict[str, Any]:
    """Scroll-back: up to ``limit`` messages before ``before``, oldest first."""
    entered = _enter(user=user, session_id=session_id)
    rows, more = selectors.messages_before(room=entered.room, before=before, limit=limit)
    _audit_staff_read(user, entered.room, "room history page")
    return {
        "type": "history",
        "v": 1,
        "before": before,
        "messages": [selectors.message_payload(m) for m in rows],
        "more": more,
    }


def room_typing(*, user: User, session_id: int | str) -> bool:
    """Broadcast "typing" at most once per 3 seconds per user. Returns whether it did."""
    entered = _enter(user=user, session_id=session_id)
    if not cache.add(
        f"rooms:typing:{entered.session.pk}:{user.pk}", 1, timeout=TYPING_THROTTLE_SECONDS
    ):
        return False
    with transaction.atomic():
        _broadcast(
            entered.session.pk,
            {"type": "typing", "user": {"id": user.pk, "name": selectors.display_name(user)}},
        )
    return True


@transaction.atomic
def room_read(*, user: User, session_id: int | str, message_id: int) -> int:
    """Move the user's read marker forward (never back). Facilitators see it."""
    entered = _enter(user=user, session_id=session_id)
    participant = entered.participant
    assert participant is not None
    if not Message.objects.filter(room=entered.room, pk=message_id).exists():
        raise RoomError(_("No such message in this room."), code="not_found")
    moved = Participant.objects.filter(
        pk=participant.pk, last_read_message_id__lt=message_id
    ).update(last_read_message_id=message_id)
    if moved and not participant.is_facilitator:
        _to_staff(
            entered.session.pk, {"type": "read", "user_id": user.pk, "message_id": message_id}
        )
    return max(participant.last_read_message_id, message_id)


@transaction.atomic
def room_hand(*, user: User, session_id: int | str, raised: bool) -> None:
    entered = _enter(user=user, session_id=session_id)
    participant = entered.participant
    assert participant is not None
    participant.hand_raised_at = timezone.now() if raised else None
    participant.save(update_fields=["hand_raised_at"])
    _broadcast(
        entered.session.pk,
        {
            "type": "hand",
            "user": {"id": user.pk, "name": selectors.display_name(user)},
            "raised": raised,
        },
    )


# --- Moderation (facilitators only; every action audited) ----------------------------------


def _target(entered: Entered, user_id: int) -> Participant:
    target = (
        Participant.objects.select_related("user")
        .filter(room=entered.room, user_id=user_id, is_facilitator=False)
        .first()
    )
    if target is None:
        raise RoomError(_("That person is not in this room."), code="not_found")
    return target


def _moderation_audit(by: User, obj: Any, patient: User | None, detail: str) -> None:
    audit_record(actor=by, action=AuditAction.MODERATE, obj=obj, patient=patient, detail=detail)


def _admit(entered: Entered, target: Participant, by: User, now: dt.datetime) -> None:
    room = entered.room
    access = selectors.room_access(user=target.user, session_id=entered.session.pk)
    if access is None or not access.is_member:
        raise RoomError(_("That person is no longer a member of this group."), code="not_member")
    target.status = ParticipantStatus.ADMITTED
    target.admitted_at = now
    target.admitted_by = by
    target.save(update_fields=["status", "admitted_at", "admitted_by"])
    # Attendance starts at admission, not at arrival in the lobby.
    Connection.objects.filter(room=room, user=target.user).update(joined_at=now)
    _system_message(room, SystemEvent.ADMITTED, subject=target.user, now=now)
    _record_attendance(entered.session, target.user, now, None)
    _control(entered.session.pk, target.user_id, "admitted")
    _moderation_audit(by, target, target.user, "room admit")


@in_room_order
@transaction.atomic
def room_admit(*, by: User, session_id: int | str, user_id: int) -> None:
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    entered.room = room
    target = _target(entered, user_id)
    if target.status != ParticipantStatus.WAITING:
        raise RoomError(_("That person is not waiting in the lobby."), code="not_waiting")
    _admit(entered, target, by, timezone.now())
    _broadcast_lobby(room)
    _broadcast_presence(room)


@in_room_order
@transaction.atomic
def room_admit_all(*, by: User, session_id: int | str) -> int:
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    entered.room = room
    now = timezone.now()
    waiting_ids = [p["id"] for p in selectors.lobby(room=room, now=now)]
    count = 0
    for target in Participant.objects.select_related("user").filter(
        room=room, user_id__in=waiting_ids, status=ParticipantStatus.WAITING
    ):
        try:
            _admit(entered, target, by, now)
        except RoomError:
            continue  # no longer a member: stays out
        count += 1
    _broadcast_lobby(room)
    _broadcast_presence(room)
    return count


@transaction.atomic
def room_message_delete(*, by: User, session_id: int | str, message_id: int) -> None:
    """Tombstone a message: hidden from everyone, kept (body included) for the audit trail."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    message = (
        Message.objects.select_for_update(of=("self",))
        .filter(room=entered.room, pk=message_id, kind=MessageKind.CHAT)
        .select_related("author")
        .first()
    )
    if message is None:
        raise RoomError(_("No such message in this room."), code="not_found")
    if message.deleted_at is not None:
        return
    message.deleted_at = timezone.now()
    message.deleted_by = by
    message.save(update_fields=["deleted_at", "deleted_by"])
    _moderation_audit(
        by,
        message,
        message.author if message.author and message.author.is_patient else None,
        "room message deleted",
    )
    _broadcast(entered.session.pk, {"type": "deleted", "message_id": message.pk})


@transaction.atomic
def room_member_mute(*, by: User, session_id: int | str, user_id: int, minutes: int) -> None:
    """Mute a member for ``minutes`` (0 lifts the mute)."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    target = _target(entered, user_id)
    until = timezone.now() + dt.timedelta(minutes=minutes) if minutes else None
    target.muted_until = until
    target.save(update_fields=["muted_until"])
    _moderation_audit(by, target, target.user, f"room mute {minutes} min")
    iso = until.isoformat() if until else None
    _control(entered.session.pk, user_id, "muted", until=iso)
    # Only the facilitators hear of it: a mute is not announced to the group.
    _to_staff(
        entered.session.pk,
        {
            "type": "muted",
            "user": {"id": user_id, "name": selectors.display_name(target.user)},
            "until": iso,
        },
    )


@in_room_order
@transaction.atomic
def room_member_remove(*, by: User, session_id: int | str, user_id: int) -> None:
    """Remove a member from this session: their sockets close and they cannot come back."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    target = _target(entered, user_id)
    if target.status == ParticipantStatus.REMOVED:
        return
    now = timezone.now()
    target.status = ParticipantStatus.REMOVED
    target.removed_at = now
    target.removed_by = by
    target.save(update_fields=["status", "removed_at", "removed_by"])
    _system_message(room, SystemEvent.REMOVED, subject=target.user, now=now)
    _moderation_audit(by, target, target.user, "room member removed")
    _control(entered.session.pk, user_id, "removed")
    _broadcast_lobby(room)


@in_room_order
@transaction.atomic
def room_lock(*, by: User, session_id: int | str, locked: bool) -> None:
    """A locked room lets nobody new in automatically: newcomers wait in the lobby."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    if room.locked == locked:
        return
    room.locked = locked
    room.locked_by = by if locked else None
    room.save(update_fields=["locked", "locked_by"])
    _moderation_audit(by, room, None, "room locked" if locked else "room unlocked")
    _system_message(room, SystemEvent.LOCKED if locked else SystemEvent.UNLOCKED)
    _broadcast(room.session_id, {"type": "locked", "locked": locked})


@transaction.atomic
def room_pin(*, by: User, session_id: int | str, body: str) -> None:
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    text = body.strip()
    room.pinned_text = text
    room.pinned_by = by if text else None
    room.pinned_at = timezone.now() if text else None
    room.save(update_fields=["pinned_text", "pinned_by", "pinned_at"])
    _moderation_audit(by, room, None, "room pin" if text else "room unpin")
    _broadcast(
        room.session_id,
        {
            "type": "pinned",
            "pinned": {"text": text, "at": room.pinned_at.isoformat()}
            if text and room.pinned_at
            else None,
        },
    )


@in_room_order
@transaction.atomic
def room_end(*, by: User, session_id: int | str) -> None:
    """End the session now: the room becomes read-only history and every socket closes."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    now = timezone.now()
    _system_message(room, SystemEvent.ENDED, now=now)
    room.ended_at = now
    room.ended_by = by
    room.save(update_fields=["ended_at", "ended_by"])
    _moderation_audit(by, room, None, "room ended")
    _control(room.session_id, None, "ended")


# --- History page (HTTP) ----------------------------------------------------------------


def room_transcript_read(
    *, viewer: User, access: RoomAccess, before: int | None, limit: int = 100
) -> tuple[Room | None, list[Message], bool]:
    """The read-only history shown on the room page once the room has closed. Reads by
    staff are audited."""
    room = selectors.room_of(access)
    if room is None:
        return None, [], False
    rows, more = selectors.messages_before(room=room, before=before, limit=limit)
    room_transcript_viewed(viewer=viewer, room=room)
    return room, rows, more


def room_transcript_viewed(*, viewer: User, room: Room) -> None:
    """Record a read of the room page's transcript (also when it came from the cache)."""
    _audit_staff_read(viewer, room, "room transcript")


def room_welcome(*, user: User, session_id: int | str) -> dict[str, Any]:
    """The welcome frame for a socket that was just admitted from the lobby."""
    entered = _enter(user=user, session_id=session_id)
    assert entered.participant is not None
    return welcome_payload(room=entered.room, participant=entered.participant)
