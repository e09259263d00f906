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
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.rooms.models import Connection, Message, Participant, ParticipantStatus, Room
from apps.scheduling.models import GroupMembership, MembershipStatus, Session, SessionStatus
from apps.scheduling.selectors import (
    membership_covers,
    session_get_for_participant,
    session_is_facilitator,
)

PRESENCE_STALE = dt.timedelta(seconds=90)


def open_before() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "ROOMS_OPEN_MINUTES_BEFORE", 15))


def grace() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "ROOMS_GRACE_MINUTES", 10))


def history_days() -> dt.timedelta:
    return dt.timedelta(days=getattr(settings, "ROOMS_HISTORY_DAYS", 365))


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
    # The room when the answer came from the user's participant row (no query for it).
    room: Room | None = None

    @property
    def may_join_live(self) -> bool:
        return self.is_facilitator or self.is_member


def _active_seat(session: Session) -> Q:
    """Memberships that give a live seat in ``session``'s room now: active, begun by the
    session's date and not ending before today (a discharged member is out at once)."""
    today = timezone.localdate(timezone=session.group.program.time_zone)
    day = max(today, session.occurrence_date)
    return (
        Q(group_id=session.group_id)
        & Q(status=MembershipStatus.ACTIVE)
        & Q(from_date__lte=session.occurrence_date)
        & (Q(to_date__isnull=True) | Q(to_date__gte=day))
    )


def _active_member(*, user: User, session: Session) -> bool:
    return GroupMembership.objects.filter(_active_seat(session), patient=user).exists()


def users_allowed_live(*, session: Session, user_ids: set[int]) -> set[int]:
    """Which of ``user_ids`` may be in the live room now: ``room_access(...).may_join_live``
    for many users in three queries (the periodic check of a room's sockets)."""
    if not user_ids:
        return set()
    from apps.scheduling.models import Group

    facilitators = set(
        Group.facilitators.through.objects.filter(
            group_id=session.group_id, user_id__in=user_ids
        ).values_list("user_id", flat=True)
    )
    if session.facilitator_id in user_ids:
        facilitators.add(session.facilitator_id)
    members = set(
        GroupMembership.objects.filter(
            _active_seat(session), patient_id__in=user_ids, patient__role=Role.PATIENT
        ).values_list("patient_id", flat=True)
    )
    removed = set(
        Participant.objects.filter(
            room__session=session, user_id__in=members, status=ParticipantStatus.REMOVED
        ).values_list("user_id", flat=True)
    )
    return facilitators | (members - removed)


def room_access(*, user: User, session_id: int | str) -> RoomAccess | None:
    """The user's access to the room of ``session_id``, or None (callers answer 404/4403).

    Someone with a participant row in the room (everyone who was ever in it) is answered
    from that row and one membership query (``room_access_of_participant``)."""
    participant = participant_in_session(user=user, session_id=session_id)
    if participant is not None:
        known = room_access_of_participant(participant)
        if known is not None:
            return known
        if user.is_patient:
            return None
    session = session_get_for_participant(user=user, session_id=session_id)
    if session is None:
        return None
    if user.is_patient:
        removed = Participant.objects.filter(
            room__session=session, user=user, status=ParticipantStatus.REMOVED
        ).exists()
        member = not removed and _active_member(user=user, session=session)
        return _patient_access(session, user, removed=removed, member=member)
    facilitator = session_is_facilitator(user=user, session=session)
    return RoomAccess(
        session=session,
        user=user,
        is_facilitator=facilitator,
        is_member=False,
        may_read_history=True,
    )


def _patient_access(session: Session, user: User, *, removed: bool, member: bool) -> RoomAccess:
    """A patient with a seat on the session's date: in the live room while their membership
    is active; a former member keeps read access to the history; a removed one has neither."""
    return RoomAccess(
        session=session,
        user=user,
        is_facilitator=False,
        is_member=member and not removed,
        may_read_history=not removed,
    )


def participant_in_session(
    *, user: User, session_id: int | str, lock_room: bool = False
) -> Participant | None:
    """``user``'s participant row in the room of ``session_id`` (whatever its status), with
    the room, session, group and program, in one query; None if they were never in it.
    ``lock_room`` (inside a transaction) also takes the room's row lock (FOR UPDATE OF)."""
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        return None
    if not user.is_authenticated:
        return None
    rows = Participant.objects.select_related(
        "room", "room__session", "room__session__group", "room__session__group__program"
    ).filter(room__session_id=pk, user=user)
    if lock_room:
        rows = rows.select_for_update(of=("room",))
    try:
        participant = rows.get()  # one row per (room, user); get() compiles no ORDER BY
    except Participant.DoesNotExist:
        participant = None
    if participant is not None:
        participant.user = user  # the same row: no second query for it
    return participant


def room_access_of_participant(participant: Participant) -> RoomAccess | None:
    """``room_access`` for someone with a participant row in the room (so they were a member
    or a facilitator once): the same rule, re-checked now, in one more query. None when the
    rule now gives them nothing at all."""
    user, session = participant.user, participant.room.session
    if user.is_patient:
        # One query for both questions room_access asks of a patient's memberships: does one
        # cover the session's date (the history), and is one still a live seat (the room)?
        seats = GroupMembership.objects.filter(
            membership_covers(patient_ref=user.pk, date_ref=session.occurrence_date),
            group_id=session.group_id,
        ).aggregate(covering=Count("pk"), live=Count("pk", filter=_active_seat(session)))
        if not seats["covering"]:
            return None
        member = seats["live"] > 0
        removed = participant.status == ParticipantStatus.REMOVED
        found = _patient_access(session, user, removed=removed, member=member)
        found.room = participant.room
        return found
    facilitator = session_is_facilitator(user=user, session=session)
    if not facilitator:
        return None  # other staff: room_access (program staff may read the history)
    return RoomAccess(
        session=session,
        user=user,
        is_facilitator=True,
        is_member=False,
        may_read_history=True,
        room=participant.room,
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


def participant_payload(p: Participant, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    muted = p.muted_until is not None and p.muted_until > now
    return {
        "id": p.user_id,
        "name": display_name(p.user),
        "facilitator": p.is_facilitator,
        "hand": p.hand_raised_at is not None,
        "muted_until": p.muted_until.isoformat() if muted and p.muted_until else None,
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
