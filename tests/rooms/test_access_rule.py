"""The room access rule (``selectors.room_access``, its only statement) case by case, and
the chat post (``services.room_message_post``) storing exactly when it lets the author
post — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from apps.rooms import selectors, services
from apps.rooms.models import Message, Participant, ParticipantStatus, Room
from apps.scheduling.models import GroupMembership
from tests.factories import clinician_in, patient_in
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _expected(memberships, session, status) -> tuple[bool, bool, bool] | None:
    """The rule as the design states it, for a patient with ``memberships`` (status, from,
    to): (is_facilitator, is_member, may_read_history), or None for no access at all.
    A membership covers the session's day when active or ended and spanning it; it gives a
    live seat when active, begun by that day, and not ended before today or that day."""
    day, today = session.occurrence_date, timezone.localdate()
    covering = [
        m
        for m in memberships
        if m[0] in ("active", "ended") and m[1] <= day and (m[2] or day) >= day
    ]
    if not covering:
        return None
    live = any(
        state == "active" and start <= day and (end is None or end >= max(today, day))
        for state, start, end in memberships
    )
    removed = status == ParticipantStatus.REMOVED
    return (False, live and not removed, not removed)


def _answer(access: selectors.RoomAccess | None) -> tuple[bool, bool, bool] | None:
    if access is None:
        return None
    return (access.is_facilitator, access.is_member, access.may_read_history)


# (status, from_date, to_date) of one membership, in days from the session's date
# (``today`` marks days from today instead, for sessions days before or after it).
MEMBERSHIPS = [
    [],
    [("active", -14, None)],
    [("active", -14, 0)],
    [("active", -14, -1)],
    [("active", 1, None)],
    [("active", -14, "today")],
    [("active", -14, "yesterday")],
    [("ended", -14, 0)],
    [("ended", -14, None)],
    [("ended", -14, -1)],
    [("waitlisted", -14, None)],
    [("ended", -30, -10), ("active", -9, None)],
    [("ended", -14, 0), ("active", -14, "yesterday")],
    [("ended", -20, "yesterday"), ("active", -14, "tomorrow")],
]
SESSION_DAYS = [-3, 0, 2]  # the session days before, on, or after today
STATUSES = [ParticipantStatus.ADMITTED, ParticipantStatus.WAITING, ParticipantStatus.REMOVED]


def _date(session_date: dt.date, offset: int | str | None) -> dt.date | None:
    today = timezone.localdate()
    return {
        None: None,
        "today": today,
        "yesterday": today - DAY,
        "tomorrow": today + DAY,
    }.get(offset, session_date + DAY * offset if isinstance(offset, int) else None)  # type: ignore[arg-type]


def _every_patient_case(program, clinician):
    """A patient in a room for each combination of memberships, session day and participant
    status: yields (case, patient, session, participant)."""
    for case in itertools.product(MEMBERSHIPS, SESSION_DAYS, STATUSES):
        memberships, days, status = case
        patient = patient_in(program)
        session = make_session(program, [clinician], starts_in=dt.timedelta(days=days))
        room = Room.objects.create(session=session)
        removed_at = timezone.now() if status == ParticipantStatus.REMOVED else None
        participant = Participant.objects.create(
            room=room, user=patient, status=status, removed_at=removed_at
        )
        for state, start, end in memberships:
            GroupMembership.objects.create(
                group=session.group,
                patient=patient,
                status=state,
                from_date=_date(session.occurrence_date, start),
                to_date=_date(session.occurrence_date, end),
                waitlist_position=1 if state == "waitlisted" else None,
            )
        participant.refresh_from_db()
        yield case, patient, session, participant


def _every_patient_case(program, clinician):
    """A patient in a room for each combination of memberships, session day and participant
    status: yields (case, patient, session, memberships as dates)."""
    for case in itertools.product(MEMBERSHIPS, SESSION_DAYS, STATUSES):
        memberships, days, status = case
        patient = patient_in(program)
        session = make_session(program, [clinician], starts_in=dt.timedelta(days=days))
        room = Room.objects.create(session=session)
        removed_at = timezone.now() if status == ParticipantStatus.REMOVED else None
        Participant.objects.create(room=room, user=patient, status=status, removed_at=removed_at)
        dated = []
        for state, start, end in memberships:
            membership = GroupMembership.objects.create(
                group=session.group,
                patient=patient,
                status=state,
                from_date=_date(session.occurrence_date, start),
                to_date=_date(session.occurrence_date, end),
                waitlist_position=1 if state == "waitlisted" else None,
            )
            dated.append((state, membership.from_date, membership.to_date))
        yield case, patient, session, dated


def test_a_patients_access_follows_the_rule_in_every_case(program, clinician):
    answers = set()
    for case, patient, session, dated in _every_patient_case(program, clinician):
        expected = _expected(dated, session, case[2])
        assert _answer(selectors.room_access(user=patient, session_id=session.pk)) == expected, case
        answers.add(expected)
    assert len(answers) >= 3  # the matrix has no access, history only, and live seats


def _stores(user, session, client_id: str) -> bool:
    try:
        _, created = services.room_message_post(
            author=user, session_id=session.pk, body="hi", client_id=client_id
        )
    except services.RoomError:
        return False
    return created


def test_a_patient_posts_exactly_when_the_rule_gives_a_live_seat_and_admission(program, clinician):
    stored = refused = 0
    for n, (case, patient, session, dated) in enumerate(_every_patient_case(program, clinician)):
        answer = _expected(dated, session, case[2])
        live_now = case[1] == 0  # the rooms of sessions days away are closed
        expected = bool(answer and answer[1]) and case[2] == "admitted" and live_now
        assert _stores(patient, session, f"m-{n}") == expected, case
        assert Message.objects.filter(client_id=f"m-{n}").exists() == expected
        stored, refused = stored + expected, refused + (not expected)
    assert stored and refused


@pytest.fixture
def staff_room(program, clinician):
    """A session facilitated by ``clinician`` (the group's) and a cover (the session's own),
    and a colleague of the program who facilitates neither: (session, room, cover, colleague)."""
    colleague = clinician_in(program, email="colleague@example.test")
    cover = clinician_in(program, email="cover@example.test")
    session = make_session(program, [clinician])
    session.facilitator = cover
    session.save(update_fields=["facilitator"])
    return session, Room.objects.create(session=session), cover, colleague


def test_facilitators_join_and_post_and_other_program_staff_only_read(clinician, staff_room):
    session, room, cover, colleague = staff_room
    for n, (user, facilitates) in enumerate(((clinician, True), (cover, True), (colleague, False))):
        Participant.objects.create(room=room, user=user, status="admitted")
        access = selectors.room_access(user=user, session_id=session.pk)
        assert _answer(access) == (facilitates, False, True)
        assert _stores(user, session, f"s-{n}") is facilitates


def test_nobody_and_bad_ids_get_nothing(program, clinician, patient, outsider):
    session = make_session(program, [clinician], [patient])
    Room.objects.create(session=session)
    assert selectors.room_access(user=outsider, session_id=session.pk) is None
    for bad in ("abc", "", None, 2**70, -1):
        assert selectors.room_access(user=patient, session_id=bad) is None


@pytest.mark.parametrize(
    "case",
    [
        "live",
        "opens_in_10_minutes",
        "opens_in_20_minutes",
        "ended_5_minutes_ago",
        "ended_15_minutes_ago",
        "cancelled",
        "room_ended",
        "muted",
        "mute_over",
        "waiting",
        "removed",
        "not_a_participant",
    ],
)
def test_a_chat_post_follows_the_room_rules(program, clinician, patient, case):
    starts_in = {
        "opens_in_10_minutes": dt.timedelta(minutes=10),
        "opens_in_20_minutes": dt.timedelta(minutes=20),
        "ended_5_minutes_ago": dt.timedelta(minutes=-65),
        "ended_15_minutes_ago": dt.timedelta(minutes=-75),
    }.get(case, dt.timedelta(minutes=-5))
    session = make_session(
        program,
        [clinician],
        [patient],
        starts_in=starts_in,
        status="cancelled" if case == "cancelled" else "scheduled",
    )
    now = timezone.now()
    room = Room.objects.create(session=session, ended_at=now if case == "room_ended" else None)
    if case != "not_a_participant":
        Participant.objects.create(
            room=room,
            user=patient,
            status={"waiting": "waiting", "removed": "removed"}.get(case, "admitted"),
            muted_until={"muted": now + dt.timedelta(minutes=5), "mute_over": now}.get(case),
            removed_at=now if case == "removed" else None,
        )
    allowed = case in ("live", "opens_in_10_minutes", "ended_5_minutes_ago", "mute_over")
    assert _stores(patient, session, f"c-{case}") is allowed
    assert Message.objects.filter(client_id=f"c-{case}").exists() is allowed


def test_the_rate_limit_and_a_resend_take_no_seq(program, clinician, patient, settings):
    settings.ROOMS_RATE_LIMIT_MESSAGES = 2
    session = make_session(program, [clinician], [patient])
    room = Room.objects.create(session=session)
    Participant.objects.create(room=room, user=patient, status="admitted")
    assert _stores(patient, session, "r-1")
    assert not _stores(patient, session, "r-1")  # the same client id: stored once
    assert _stores(patient, session, "r-2")
    assert not _stores(patient, session, "r-3")  # the third in the window
    assert list(Message.objects.filter(room=room).values_list("client_id", "seq")) == [
        ("r-1", 1),
        ("r-2", 2),
    ]
    room.refresh_from_db()
    assert room.message_seq == 2  # a resend and a refusal take no seq: no hole
    marker = Participant.objects.get(room=room, user=patient).last_read_message_id
    assert marker == Message.objects.get(client_id="r-2").pk
