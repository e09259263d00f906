"""Writes for live rooms. Every entry point (the consumer, views, demo data) calls these.

Each public service checks access first (``_enter``: the user is still a member or
facilitator, not removed, the room live) and then writes — so a member discharged or
removed mid-session is refused on their very next action. Messages are stored before they
are broadcast: broadcasts go through ``send_event_on_commit``. Every message insert holds
the room's row lock (``_lock_room``), so ids and seqs in a room grow in commit order and
catch-up ("everything after id N") cannot skip a message that committed late. That lock is
the only ordering: broadcasts may still arrive out of order, and a client that sees a seq
it lacks asks for what is missing (``room_sync``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
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
from apps.rooms.selectors import Phase, RoomAccess
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


def _lock_room(room: Room) -> Room:
    """Serialise writes that allocate message ids in this room (see the module doc)."""
    return Room.objects.select_for_update().get(pk=room.pk)


def _enter(
    *, user: User, session_id: int | str, facilitator: bool = False, admitted: bool = True
) -> Entered:
    """Check that ``user`` may act in the live room now; raise RoomForbidden/RoomClosed."""
    access = selectors.room_access(user=user, session_id=session_id)
    if access is None or not access.may_join_live:
        raise RoomForbidden()
    if facilitator and not access.is_facilitator:
        raise RoomError(_("Only a facilitator can do that."), code="not_facilitator")
    room = access.room or room_get_or_create(session=access.session)
    if selectors.room_phase(session=access.session, room=room) != Phase.LIVE:
        raise RoomClosed()
    participant = access.participant
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
    """Give out the room's next message ``seq``. ``room`` is as ``_lock_room`` read it, in
    the transaction that stores the message: a rollback gives the number back, so seqs
    have no holes."""
    room.message_seq += 1
    Room.objects.filter(pk=room.pk).update(message_seq=room.message_seq)
    return room.message_seq


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
        try:
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


def rate_window(now: dt.datetime) -> tuple[int, dt.datetime]:
    """The chat rate limit: (messages allowed, counted since)."""
    limit, window = rate_limit()
    return limit, now - dt.timedelta(seconds=window)


@transaction.atomic
def room_message_post(
    *, author: User, session_id: int | str, body: str, client_id: str
) -> tuple[dict[str, Any], bool]:
    """Store a chat message, then broadcast it. Returns (message payload, created).

    Idempotent per (room, author, client_id): a resend returns the stored message and
    broadcasts nothing new, even when the author is now muted or over the limit. Refused
    (RoomError) when muted or over the rate limit (``rate_limit()`` chat messages per
    author and room in any window of that many seconds). A message with a risk phrase is
    stored with its alert, so neither is kept without the other."""
    entered = _enter(user=author, session_id=session_id)
    room = _lock_room(entered.room)
    if room.ended_at is not None:
        raise RoomClosed()
    # Read again, locked: a mute or removal that committed (or is committing) since the
    # access check is seen here, never overtaken by a message already on its way.
    assert entered.participant is not None  # _enter: admitted
    participant = Participant.objects.select_for_update(no_key=True).get(pk=entered.participant.pk)
    if participant.status != ParticipantStatus.ADMITTED:
        raise RoomForbidden()
    now = timezone.now()

    def resend_or(error: RoomError) -> tuple[dict[str, Any], bool]:
        stored = Message.objects.filter(room=room, author=author, client_id=client_id).first()
        if stored is None:
            raise error
        stored.author = author
        return selectors.message_payload(stored), False

    if until := selectors.mute_in_force(participant, now=now):
        return resend_or(
            RoomError(
                _("A facilitator has muted you for a few minutes."),
                code="muted",
                until=until.isoformat(),
            )
        )
    body = body.strip()
    if not body:
        raise RoomError(_("The message is empty."), code="invalid_fields")
    limit, since = rate_window(now)
    recent = Message.objects.filter(
        room=room, author=author, kind=MessageKind.CHAT, created_at__gt=since
    ).count()
    if recent >= limit:
        return resend_or(
            RoomError(_("You are sending messages too fast. Wait a few seconds."), "rate_limited")
        )
    message = Message(
        room=room,
        author=author,
        kind=MessageKind.CHAT,
        body=body,
        client_id=client_id,
        created_at=now,
        seq=room.message_seq + 1,
    )
    try:
        with transaction.atomic():  # a savepoint: a resend leaves the transaction usable
            message.save(force_insert=True)
    except IntegrityError:
        return resend_or(RoomError(_("That message could not be stored."), "invalid_fields"))
    _next_seq(room)
    Participant.objects.filter(pk=participant.pk, last_read_message_id__lt=message.pk).update(
        last_read_message_id=message.pk
    )
    payload = selectors.message_payload(message)
    _broadcast(room.session_id, {"type": "message", "message": payload})
    phrase = _risk_match(body) if author.is_patient else None
    if phrase:
        _raise_risk_alert(message=message, patient=author, phrase=phrase, session=entered.session)
    return payload, True


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
