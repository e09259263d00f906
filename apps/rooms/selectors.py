"""Reads for rooms, and the one place the room access rule lives.

Who may be in a session's room (``room_access``):
- a patient with an **active** membership of the session's group covering the session's
  date (a discharged or removed member is out at once, even mid-session), who was not
  removed from this session by a facilitator;
- the group's facilitators and the session's covering facilitator (``is_facilitator``).
Other staff of the program may read the history (audited) but not join the live room.
Everyone else — other patients, other programs' clinicians, anonymous users — gets nothing.

When (``room_phase``): the room opens ``ROOMS_OPEN_MINUTES_BEFORE`` (15) before the start,
is live until a facilitator ends it or the scheduled end plus ``ROOMS_GRACE_MINUTES`` (10),
then is read-only history for ``ROOMS_HISTORY_DAYS`` (the retention window members see).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.rooms.models import Connection, Message, Participant, ParticipantStatus, Room
from apps.scheduling.models import Group, GroupMembership, MembershipStatus, Session, SessionStatus
from apps.scheduling.selectors import (
    session_get_for_participant,
    session_is_facilitator,
)

PRESENCE_STALE = dt.timedelta(seconds=90)


def open_before() -> dt.timedelta:
    return dt.timedelta(minutes=settings.ROOMS_OPEN_MINUTES_BEFORE)


def grace() -> dt.timedelta:
    return dt.timedelta(minutes=settings.ROOMS_GRACE_MINUTES)


def history_days() -> dt.timedelta:
    return dt.timedelta(days=settings.ROOMS_HISTORY_DAYS)


class Phase:
    NOT_OPEN = "not_open"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # past the history window


def room_phase(*, session: Session, room: Room | None, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    if session.status == SessionStatus.CANCELLED:
        return Phase.CANCELLED
    ended_at = room.ended_at if room is not None else None
    close_at = session.ends_at + grace()
    if ended_at is None and session.status == SessionStatus.SCHEDULED:
        if now < session.starts_at - open_before():
            return Phase.NOT_OPEN
        if now < close_at:
            return Phase.LIVE
    closed = min(ended_at or close_at, close_at)
    if now > closed + history_days():
        return Phase.EXPIRED
    return Phase.ENDED


def room_live_until(*, session: Session) -> dt.datetime:
    return session.ends_at + grace()


@dataclass
class RoomAccess:
    """What ``user`` may do in ``session``'s room."""

    session: Session
    user: User
    is_facilitator: bool
    is_member: bool  # a patient with a live seat (may join the live room)
    may_read_history: bool
    # The room and the user's participant row in it, if they were ever in the room.
    room: Room | None = None
    participant: Participant | None = None

    @property
    def may_join_live(self) -> bool:
        return self.is_facilitator or self.is_member


def _seat_window(session: Session) -> tuple[dt.date, dt.date]:
    """A membership gives a live seat in ``session``'s room now when it is active, began by
    the first date and does not end before the second (today in the program's zone, or the
    session's date if later): a discharged member is out at once."""
    today = timezone.localdate(timezone=session.group.program.time_zone)
    return session.occurrence_date, max(today, session.occurrence_date)


def _seat_is_live(session: Session, from_date: dt.date, to_date: dt.date | None) -> bool:
    """The seat rule, for one active membership of ``session``'s group (``_seat_window``)."""
    began_by, lasts_until = _seat_window(session)
    return from_date <= began_by and (to_date is None or to_date >= lasts_until)


def _active_member(*, user: User, session: Session) -> bool:
    seats = GroupMembership.objects.filter(
        group_id=session.group_id, patient=user, status=MembershipStatus.ACTIVE
    ).values_list("from_date", "to_date")
    return any(_seat_is_live(session, from_date, to_date) for from_date, to_date in seats)


def users_allowed_live_in_rooms(wanted: dict[Session, set[int]]) -> dict[int, set[int]]:
    """Which of each session's users may be in its live room now, by session id:
    ``room_access(...).may_join_live`` for many users of many sessions, in three queries
    however many (a process's periodic check of its rooms, ``services.rooms_tick``).
    Sessions come with their group and program (``_seat_window`` reads the time zone)."""
    wanted = {session: ids for session, ids in wanted.items() if ids}
    if not wanted:
        return {}
    group_ids = sorted({session.group_id for session in wanted})
    facilitating: dict[int, set[int]] = defaultdict(set)
    for group_id, user_id in Group.facilitators.through.objects.filter(
        group_id__in=group_ids
    ).values_list("group_id", "user_id"):
        facilitating[group_id].add(user_id)
    seats: dict[int, list[tuple[int, dt.date, dt.date | None]]] = defaultdict(list)
    for group_id, patient_id, from_date, to_date in GroupMembership.objects.filter(
        group_id__in=group_ids, status=MembershipStatus.ACTIVE, patient__role=Role.PATIENT
    ).values_list("group_id", "patient_id", "from_date", "to_date"):
        seats[group_id].append((patient_id, from_date, to_date))
    removed = set(
        Participant.objects.filter(
            room__session_id__in=sorted(session.pk for session in wanted),
            status=ParticipantStatus.REMOVED,
        ).values_list("room__session_id", "user_id")
    )
    allowed: dict[int, set[int]] = {}
    for session, ids in wanted.items():
        members = {
            patient_id
            for patient_id, from_date, to_date in seats[session.group_id]
            if patient_id in ids
            and _seat_is_live(session, from_date, to_date)
            and (session.pk, patient_id) not in removed
        }
        facilitators = facilitating[session.group_id] & ids
        if session.facilitator_id in ids:
            facilitators.add(session.facilitator_id)
        allowed[session.pk] = facilitators | members
    return allowed


def room_access(*, user: User, session_id: int | str) -> RoomAccess | None:
    """The user's access to the room of ``session_id``, or None (callers answer 404/4403).

    The one statement of the rule (the module doc): the session as the user may see it
    (``session_get_for_participant``), their participant row if they were ever in the room
    (removed or not, muted or not: the services read it from here), then a patient's live
    seat or a clinician's facilitation."""
    session = session_get_for_participant(user=user, session_id=session_id)
    if session is None:
        return None
    participant = (
        Participant.objects.select_related("room").filter(room__session=session, user=user).first()
    )
    room = None
    if participant is not None:
        participant.user = user
        room = participant.room
        room.session = session  # the same row: not read again
    removed = participant is not None and participant.status == ParticipantStatus.REMOVED
    if user.is_patient:
        member = not removed and _active_member(user=user, session=session)
        return RoomAccess(
            session=session,
            user=user,
            is_facilitator=False,
            is_member=member,
            may_read_history=not removed,
            room=room,
            participant=participant,
        )
    return RoomAccess(
        session=session,
        user=user,
        is_facilitator=session_is_facilitator(user=user, session=session),
        is_member=False,
        may_read_history=True,
        room=room,
        participant=participant,
    )


def room_for_session(*, session: Session) -> Room | None:
    return Room.objects.filter(session=session).first()


def room_of(access: RoomAccess) -> Room | None:
    """The room ``access`` is about: carried from the participant row, else looked up."""
    return access.room or room_for_session(session=access.session)


def display_name(user: User) -> str:
    """Patients are shown to the group by first name only; staff the same, for symmetry."""
    return user.first_name_display


def message_payload(message: Message) -> dict[str, Any]:
    """The wire form of a message. A deleted message keeps its place but never its body."""
    author = message.author
    data: dict[str, Any] = {
        "id": message.pk,
        "seq": message.seq,
        "kind": message.kind,
        "at": message.created_at.isoformat(),
        "deleted": message.is_deleted,
        "body": "" if message.is_deleted else message.body,
        "client_id": message.client_id or None,
        "author": (
            {"id": author.pk, "name": display_name(author), "staff": not author.is_patient}
            if author is not None
            else None
        ),
    }
    if message.kind == "system":
        subject = message.subject
        data["event"] = message.system_event
        data["subject"] = (
            {"id": subject.pk, "name": display_name(subject)} if subject is not None else None
        )
    return data


def _messages(room: Room) -> Any:
    return Message.objects.filter(room=room).select_related("author", "subject")


def messages_after(*, room: Room, after: int, limit: int = 200) -> tuple[list[Message], bool]:
    """Messages with id > ``after``, oldest first; ``more`` when the page was full."""
    rows = list(_messages(room).filter(id__gt=after).order_by("id")[: limit + 1])
    return rows[:limit], len(rows) > limit


def messages_before(
    *, room: Room, before: int | None, limit: int = 50
) -> tuple[list[Message], bool]:
    """Up to ``limit`` messages before ``before`` (None: the newest), oldest first."""
    qs = _messages(room)
    if before:
        qs = qs.filter(id__lt=before)
    rows = list(qs.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    return list(reversed(rows[:limit])), more


def deleted_ids(*, room: Room, after: int = 0) -> list[int]:
    """Tombstones a reconnecting client may still show as live messages."""
    return list(
        Message.objects.filter(room=room, deleted_at__isnull=False, id__lte=after)
        .order_by("id")
        .values_list("id", flat=True)
    )


def presence(*, room: Room, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Who is in the room now (admitted, with a fresh socket), by first name."""
    now = now or timezone.now()
    user_ids = set(
        Connection.objects.filter(room=room, seen_at__gte=now - PRESENCE_STALE).values_list(
            "user_id", flat=True
        )
    )
    rows = (
        Participant.objects.filter(
            room=room, user_id__in=user_ids, status=ParticipantStatus.ADMITTED
        )
        .select_related("user")
        .order_by("-is_facilitator", "admitted_at", "id")
    )
    return [participant_payload(p, now=now) for p in rows]


def mute_in_force(p: Participant, *, now: dt.datetime) -> dt.datetime | None:
    """Until when ``p`` is muted, or None if they are not muted at ``now``."""
    return p.muted_until if p.muted_until is not None and p.muted_until > now else None


def participant_payload(p: Participant, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    muted = mute_in_force(p, now=now)
    return {
        "id": p.user_id,
        "name": display_name(p.user),
        "facilitator": p.is_facilitator,
        "hand": p.hand_raised_at is not None,
        "muted_until": muted.isoformat() if muted else None,
    }


def lobby(*, room: Room, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Patients waiting to be admitted who have a socket open now."""
    now = now or timezone.now()
    waiting_ids = set(
        Connection.objects.filter(room=room, seen_at__gte=now - PRESENCE_STALE).values_list(
            "user_id", flat=True
        )
    )
    rows = (
        Participant.objects.filter(
            room=room, status=ParticipantStatus.WAITING, user_id__in=waiting_ids
        )
        .select_related("user")
        .order_by("created_at", "id")
    )
    return [{"id": p.user_id, "name": display_name(p.user)} for p in rows]


def read_markers(*, room: Room) -> list[dict[str, Any]]:
    return [
        {"user_id": uid, "message_id": mid}
        for uid, mid in Participant.objects.filter(
            room=room, status=ParticipantStatus.ADMITTED, is_facilitator=False
        ).values_list("user_id", "last_read_message_id")
    ]


def sessions_live_for(*, user: User, now: dt.datetime | None = None) -> list[Session]:
    """Sessions whose room is open now that ``user`` may join live (dashboard panel)."""
    from apps.scheduling.selectors import sessions_for_clinician, sessions_for_patient

    now = now or timezone.now()
    start = now - dt.timedelta(hours=12)
    end = now + open_before()
    if user.is_patient:
        qs = sessions_for_patient(patient=user, start=start, end=end)
    elif user.is_clinician:
        qs = sessions_for_clinician(clinician=user, start=start, end=end)
    else:
        return []
    qs = qs.filter(status=SessionStatus.SCHEDULED, ends_at__gt=now - grace()).exclude(
        room__ended_at__isnull=False
    )
    return list(qs.select_related("group"))
