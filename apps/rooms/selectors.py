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
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.core.db import prepared_cursor
from apps.rooms.models import Connection, Message, Participant, ParticipantStatus, Room
from apps.scheduling.models import GroupMembership, MembershipStatus, Session, SessionStatus
from apps.scheduling.selectors import (
    session_get_for_participant,
    session_is_facilitator,
)

PRESENCE_STALE = dt.timedelta(seconds=90)


@dataclass
class OrderLock:
    """A room's order lock (a PostgreSQL session-level advisory lock, ``key``) that a chat
    message's access read takes in the same statement, saving a round trip on the way to
    the broadcast; ``taken`` says whether it did (see ``services._in_room_order``)."""

    key: int
    taken: bool = False


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
    # The room when the answer came from the user's participant row (no query for it).
    room: Room | None = None

    @property
    def may_join_live(self) -> bool:
        return self.is_facilitator or self.is_member


def _seat_window(session: Session) -> tuple[dt.date, dt.date]:
    """A membership gives a live seat in ``session``'s room now when it is active, began by
    the first date and does not end before the second (today in the program's zone, or the
    session's date if later): a discharged member is out at once."""
    today = timezone.localdate(timezone=session.group.program.time_zone)
    return session.occurrence_date, max(today, session.occurrence_date)


def _active_seat(session: Session) -> Q:
    """Memberships that give a live seat in ``session``'s room now (``_seat_window``)."""
    began_by, lasts_until = _seat_window(session)
    return (
        Q(group_id=session.group_id)
        & Q(status=MembershipStatus.ACTIVE)
        & Q(from_date__lte=began_by)
        & (Q(to_date__isnull=True) | Q(to_date__gte=lasts_until))
    )


def _active_member(*, user: User, session: Session) -> bool:
    return GroupMembership.objects.filter(_active_seat(session), patient=user).exists()


def users_allowed_live_in_rooms(wanted: dict[Session, set[int]]) -> dict[int, set[int]]:
    """Which of each session's users may be in its live room now, by session id:
    ``room_access(...).may_join_live`` for many users of many sessions, in three queries
    however many (a process's periodic check of its rooms, ``services.rooms_tick``).
    Sessions come with their group and program (``_seat_window`` reads the time zone).

    The queries name the groups and sessions only, not the users: a group has a few
    facilitators and a dozen or two active memberships, and a list of every socket's user
    in each query cost more to build and send than those rows (bench/RESULTS.md, ninth pass)."""
    wanted = {session: ids for session, ids in wanted.items() if ids}
    if not wanted:
        return {}
    from apps.scheduling.models import Group

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
        began_by, lasts_until = _seat_window(session)
        members = {
            patient_id
            for patient_id, from_date, to_date in seats[session.group_id]
            if patient_id in ids
            and from_date <= began_by
            and (to_date is None or to_date >= lasts_until)
            and (session.pk, patient_id) not in removed
        }
        facilitators = facilitating[session.group_id] & ids
        if session.facilitator_id in ids:
            facilitators.add(session.facilitator_id)
        allowed[session.pk] = facilitators | members
    return allowed


def room_access(*, user: User, session_id: int | str) -> RoomAccess | None:
    """The user's access to the room of ``session_id``, or None (callers answer 404/4403).

    Someone with a participant row in the room (everyone who was ever in it) is answered
    from that row in one query (``participant_access``)."""
    participant, known = participant_access(user=user, session_id=session_id)
    if participant is not None:
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


class _ParticipantRead:
    """The statement behind ``participant_access``: the participant row with its room,
    session, group and program, and the three answers the access rule needs about the user
    (memberships covering the session's date, live seats, facilitator of the group), in one
    round trip and without the ORM compiling two queries per call (~4 ms of Python on every
    chat message; bench/RESULTS.md). Written once per process from the models' metadata, so
    the columns follow the models; its membership conditions are ``membership_covers`` and
    ``_active_seat`` in SQL, and tests/rooms/test_access_read.py holds it to the ORM rule."""

    def __init__(self) -> None:
        from apps.programs.models import Program
        from apps.scheduling.models import Group

        self.models = (Participant, Room, Session, Group, Program)
        aliases = ("p", "r", "s", "g", "prog")
        self.fields = [list(m._meta.concrete_fields) for m in self.models]
        columns = [
            f"{alias}.{f.column}"
            for alias, fields in zip(aliases, self.fields, strict=True)
            for f in fields
        ]
        m = GroupMembership._meta.db_table
        fac = Group.facilitators.through._meta.db_table
        seat = f"FROM {m} gm WHERE gm.group_id = s.group_id AND gm.patient_id = p.user_id"
        # Table and column names from the models' metadata; values only as parameters.
        self.facts = (
            # membership_covers(date=s.occurrence_date): active or ended, on that date
            f" (SELECT COUNT(*) {seat} AND gm.status IN (%s, %s)"  # noqa: S608
            "  AND gm.from_date <= s.occurrence_date"
            "  AND (gm.to_date IS NULL OR gm.to_date >= s.occurrence_date)) AS covering,"
            # _active_seat: active, begun by the date; open-ended, or the latest end date
            # (compared with max(today, date) in Python: today is in the program's zone)
            f" (SELECT COUNT(*) {seat} AND gm.status = %s"
            "  AND gm.from_date <= s.occurrence_date AND gm.to_date IS NULL) AS open_seats,"
            f" (SELECT MAX(gm.to_date) {seat} AND gm.status = %s"
            "  AND gm.from_date <= s.occurrence_date) AS seat_until,"
            f" (SELECT COUNT(*) FROM {fac} f WHERE f.group_id = s.group_id"
            "  AND f.user_id = p.user_id) AS facilitates"
        )
        # The participant row with its room, session, group and program.
        self.tables = (
            f"{Participant._meta.db_table} p"
            f" INNER JOIN {Room._meta.db_table} r ON r.id = p.room_id"
            f" INNER JOIN {Session._meta.db_table} s ON s.id = r.session_id"
            f" INNER JOIN {Group._meta.db_table} g ON g.id = s.group_id"
            f" INNER JOIN {Program._meta.db_table} prog ON prog.id = g.program_id"
        )
        select = f"SELECT {', '.join(columns)}, {self.facts}"  # noqa: S608
        joins = f" FROM {self.tables} WHERE r.session_id = %s AND p.user_id = %s"
        self.sql = select + joins
        # Also takes the room's order lock: once, with the output row (at most one).
        self.sql_ordered = select + ", pg_advisory_lock(%s) AS ordered" + joins
        self.params = [
            MembershipStatus.ACTIVE,
            MembershipStatus.ENDED,
            MembershipStatus.ACTIVE,
            MembershipStatus.ACTIVE,
        ]
        self.converters: dict[str, dict[int, Any]] = {}

    def __call__(
        self, *, user_id: int, session_id: int, lock_room: bool, order: OrderLock | None = None
    ) -> tuple[Participant, tuple[Any, ...]] | None:
        from django.db import connection

        sql, params = self.sql, [*self.params, session_id, user_id]
        if lock_room and connection.features.has_select_for_update_of:
            sql += " FOR UPDATE OF r"
        elif lock_room and connection.features.has_select_for_update:
            sql += " FOR UPDATE"
        elif order is not None and not order.taken and connection.vendor == "postgresql":
            # Taken with the output row (there is at most one, and no row lock that could
            # drop it afterwards): taken exactly when a row comes back.
            sql = self.sql_ordered
            params = [*self.params, order.key, session_id, user_id]
        else:
            order = None
        try:
            with prepared_cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        except BaseException:
            if order is not None:
                order.taken = True  # perhaps: the caller's release is harmless if not
            raise
        if row is None:
            return None
        if order is not None:
            order.taken = True
        compiler = Participant.objects.none().query.get_compiler(connection=connection)
        converters = self.converters.get(connection.vendor)
        if converters is None:
            cols = [f.get_col(f.model._meta.db_table) for fields in self.fields for f in fields]
            converters = self.converters[connection.vendor] = compiler.get_converters(cols)
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        objects: list[Any] = []
        at = 0
        for model, fields in zip(self.models, self.fields, strict=True):
            values = row[at : at + len(fields)]
            objects.append(model.from_db(connection.alias, [f.attname for f in fields], values))
            at += len(fields)
        participant, room, session, group, program = objects
        group.program = program
        session.group = group
        room.session = session
        participant.room = room
        covering, open_seats, seat_until, facilitates = row[at : at + 4]
        if isinstance(seat_until, str):  # SQLite gives the aggregate's date as text
            seat_until = dt.date.fromisoformat(seat_until)
        return participant, (covering, open_seats, seat_until, facilitates)


_participant_read: _ParticipantRead | None = None


def participant_access(
    *, user: User, session_id: int | str, lock_room: bool = False, order: OrderLock | None = None
) -> tuple[Participant | None, RoomAccess | None]:
    """``user``'s participant row in the room of ``session_id`` (whatever its status, with
    its room, session, group and program) and the access rule's answer for them now, in one
    query. (None, None) if they were never in the room; (row, None) when the rule gives them
    nothing from that row (other staff: ``room_access`` goes the long way).
    ``lock_room`` (inside a transaction) also takes the room's row lock (FOR UPDATE OF);
    else ``order`` (PostgreSQL) has the room's order lock taken by the same statement when
    the row is found (``order.taken``)."""
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        return None, None
    if not user.is_authenticated or not -(2**63) <= pk < 2**63:
        return None, None
    found_row = participant_read()(user_id=user.pk, session_id=pk, lock_room=lock_room, order=order)
    if found_row is None:
        return None, None
    participant, (covering, open_seats, seat_until, facilitates) = found_row
    participant.user = user  # the same row: no second query for it
    session = participant.room.session
    if user.is_patient:
        if not covering:
            return participant, None
        today = timezone.localdate(timezone=session.group.program.time_zone)
        day = max(today, session.occurrence_date)
        member = bool(open_seats) or (seat_until is not None and seat_until >= day)
        removed = participant.status == ParticipantStatus.REMOVED
        found = _patient_access(session, user, removed=removed, member=member)
        found.room = participant.room
        return participant, found
    if not (session.facilitator_id == user.pk or facilitates):
        return participant, None
    access = RoomAccess(
        session=session,
        user=user,
        is_facilitator=True,
        is_member=False,
        may_read_history=True,
        room=participant.room,
    )
    return participant, access


def participant_read() -> _ParticipantRead:
    """The process's ``_ParticipantRead`` (written once, on first use)."""
    global _participant_read
    if _participant_read is None:
        _participant_read = _ParticipantRead()
    return _participant_read


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
