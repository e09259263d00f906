"""Joining and leaving a room: sockets, presence, attendance and the room's notices."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.accounts.models import User
from apps.rooms import selectors
from apps.rooms.models import (
    Connection,
    Participant,
    ParticipantStatus,
    Room,
    SystemEvent,
)
from apps.rooms.selectors import Phase, RoomAccess
from apps.rooms.services.access import (
    _broadcast,
    _enter,
    _lock_room,
    _system_message,
    _to_staff,
    room_get_or_create,
)
from apps.rooms.services.errors import RoomClosed, RoomError, RoomForbidden
from apps.scheduling import services as scheduling_services
from apps.scheduling.models import Session

logger = logging.getLogger(__name__)

ENDING_NOTICE_BEFORE = dt.timedelta(minutes=5)


# Presence and lobby lists replace the page's whole list, and two processes may publish
# theirs out of order: each carries when it was read, under the room's lock (the caller
# holds it), and a page keeps the newest it has seen.
def _broadcast_presence(room: Room, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Tell the room who is in it now; returns that list (a join's welcome frame reuses it)."""
    people = selectors.presence(room=room, now=now)
    at = timezone.now().isoformat()
    _broadcast(room.session_id, {"type": "presence", "people": people, "at": at})
    return people


def _broadcast_lobby(room: Room) -> None:
    at = timezone.now().isoformat()
    _to_staff(room.session_id, {"type": "lobby", "people": selectors.lobby(room=room), "at": at})


def _record_attendance(
    session: Session, user: User, joined_at: dt.datetime, left_at: dt.datetime | None
) -> None:
    """Feed the scheduling app's attendance (it ignores non-members such as facilitators)."""
    if not user.is_patient:
        return
    scheduling_services.attendance_record_presence(
        session=session, patient=user, joined_at=joined_at, left_at=left_at
    )


def _fresh_connections(room: Room, user_id: int, now: dt.datetime) -> Any:
    return Connection.objects.filter(
        room=room, user_id=user_id, seen_at__gte=now - selectors.PRESENCE_STALE
    )


def room_connect(
    *, user: User, session_id: int | str, channel_name: str, checked: RoomAccess | None = None
) -> dict[str, Any]:
    """Register an open socket. Facilitators are admitted; a member is admitted at once if
    they were admitted before, or the group auto-admits and the room is not locked;
    otherwise they wait in the lobby. Returns the first frame to send (welcome/waiting).
    ``checked``: what ``room_check`` answered for this socket a moment ago (not read again;
    a removal since is still seen below, a discharge by the next check of the room).

    Attendance is recorded after the room's lock is let go: a group whose members all join
    at six waits on that lock one join at a time, so it guards only what orders the room."""
    first, session, joined_at = _connect_locked(
        user=user, session_id=session_id, channel_name=channel_name, checked=checked
    )
    if first["type"] == "welcome":
        _record_attendance(session, user, joined_at, None)
    return first


@transaction.atomic
def _connect_locked(
    *, user: User, session_id: int | str, channel_name: str, checked: RoomAccess | None
) -> tuple[dict[str, Any], Session, dt.datetime]:
    """The socket's row, admission and the room's notices, under the room's lock; also the
    session and when the socket joined (its presence interval's start)."""
    if checked is None:
        checked = _enter(user=user, session_id=session_id, admitted=False).access
    now = timezone.now()
    room = _lock_room(checked.room or room_get_or_create(session=checked.session))
    session = room.session = checked.session  # the same row: not read again
    facilitator = checked.is_facilitator
    participant, _ = Participant.objects.get_or_create(
        room=room, user=user, defaults={"is_facilitator": facilitator}
    )
    if participant.status == ParticipantStatus.REMOVED:  # removed in a race
        raise RoomForbidden()
    participant.user = user  # for the welcome: not read again
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
            waiting = {"type": "waiting", "v": 1, "session_id": session.pk, "locked": room.locked}
            return waiting, session, now
    people = None
    if not was_present:
        if participant.away_since is None:
            _system_message(room, SystemEvent.JOINED, subject=user, now=now)
        else:  # back before their leaving was announced: nothing to say
            participant.away_since = None
            participant.save(update_fields=["away_since"])
        people = _broadcast_presence(room, now=now)
    welcome = welcome_payload(room=room, participant=participant, now=now, presence=people)
    return welcome, session, now


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


def room_disconnect(*, user: User, session_id: int, channel_name: str) -> None:
    """A socket closed: close its presence interval (attendance) and say who left. No access
    check: leaving is always recorded, even for someone just removed. Attendance is
    recorded after the room's lock is let go (as on joining)."""
    now = timezone.now()
    interval = _disconnect_locked(user=user, channel_name=channel_name, now=now)
    if interval is not None:
        room_session_id, joined_at = interval
        session = Session.objects.get(pk=room_session_id)
        _record_attendance(session, user, joined_at, now)


@transaction.atomic
def _disconnect_locked(
    *, user: User, channel_name: str, now: dt.datetime
) -> tuple[int, dt.datetime] | None:
    """Forget the socket and tell the room; the admitted user's presence interval to record
    (session id, joined at), if any."""
    connection = Connection.objects.filter(channel_name=channel_name).select_related("room").first()
    if connection is None:
        return None
    room = _lock_room(connection.room)
    connection.delete()
    participant = Participant.objects.filter(room=room, user=user).first()
    if participant is None:
        return None
    still_here = _fresh_connections(room, user.pk, now).exists()
    if participant.status == ParticipantStatus.ADMITTED:
        if not still_here:
            if room.ended_at is None:
                participant.away_since = now
                participant.save(update_fields=["away_since"])
            _broadcast_presence(room)
        return room.session_id, connection.joined_at
    if participant.status == ParticipantStatus.WAITING and not still_here:
        _broadcast_lobby(room)
    return None


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
            _broadcast_presence(_lock_room(room))
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


def room_welcome(*, user: User, session_id: int | str) -> dict[str, Any]:
    """The welcome frame for a socket that was just admitted from the lobby."""
    entered = _enter(user=user, session_id=session_id)
    assert entered.participant is not None
    return welcome_payload(room=entered.room, participant=entered.participant)
