"""``selectors.participant_access`` (one hand-written statement on every chat message) gives
the same answer as the access rule written with the ORM (``membership_covers``,
``_active_seat``, ``session_is_facilitator``), case by case, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.rooms import selectors
from apps.rooms.models import Participant, ParticipantStatus, Room
from apps.scheduling.models import GroupMembership
from apps.scheduling.selectors import membership_covers, session_is_facilitator
from tests.factories import clinician_in, patient_in
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _reference(participant: Participant) -> tuple[bool, bool, bool] | None:
    """The rule as the ORM states it: (is_facilitator, is_member, may_read_history)."""
    user, session = participant.user, participant.room.session
    if user.is_patient:
        seats = GroupMembership.objects.filter(
            membership_covers(patient_ref=user.pk, date_ref=session.occurrence_date),
            group_id=session.group_id,
        ).aggregate(covering=Count("pk"), live=Count("pk", filter=selectors._active_seat(session)))
        if not seats["covering"]:
            return None
        removed = participant.status == ParticipantStatus.REMOVED
        return (False, seats["live"] > 0 and not removed, not removed)
    if session_is_facilitator(user=user, session=session):
        return (True, False, True)
    return None


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


def test_a_patients_answer_matches_the_orm_rule_in_every_case(program, clinician):
    checked = 0
    for case, patient, session, participant in _every_patient_case(program, clinician):
        expected = _reference(participant)
        row, access = selectors.participant_access(user=patient, session_id=session.pk)
        assert row is not None and row.pk == participant.pk
        assert _answer(access) == expected, case
        checked += 1
    assert checked == len(MEMBERSHIPS) * len(SESSION_DAYS) * len(STATUSES)


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


def test_staff_answers_match_the_orm_rule(clinician, staff_room):
    session, room, cover, colleague = staff_room
    for user in (clinician, colleague, cover):
        participant = Participant.objects.create(room=room, user=user)
        participant.refresh_from_db()
        row, access = selectors.participant_access(user=user, session_id=session.pk)
        assert row is not None
        assert _answer(access) == _reference(participant)
    assert _answer(selectors.participant_access(user=colleague, session_id=session.pk)[1]) is None
    assert selectors.room_access(user=colleague, session_id=session.pk) is not None  # history


def test_the_row_comes_whole_in_one_query(program, clinician, patient):
    session = make_session(program, [clinician], [patient])
    room = Room.objects.create(session=session, pinned_text="Be kind")
    Participant.objects.create(room=room, user=patient, muted_until=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        row, access = selectors.participant_access(user=patient, session_id=session.pk)
        assert row is not None and access is not None and access.is_member
        # Every field of every model read is there, converted (no lazy load, no string).
        assert row.room.pinned_text == "Be kind"
        assert row.room.session.starts_at == session.starts_at
        assert row.room.session.group.program.time_zone == program.time_zone
        assert isinstance(row.muted_until, dt.datetime) and row.muted_until.tzinfo is not None
        assert row.user is patient and access.room is row.room
    assert len(queries) == 1


def test_nobody_and_bad_ids_get_nothing(program, clinician, patient, outsider):
    session = make_session(program, [clinician], [patient])
    Room.objects.create(session=session)
    assert selectors.participant_access(user=outsider, session_id=session.pk) == (None, None)
    for bad in ("abc", "", None, 2**70, -1):
        assert selectors.participant_access(user=patient, session_id=bad) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_lock_room_holds_the_rooms_row_until_commit(program, clinician, patient):
    if not connection.features.has_select_for_update:
        pytest.skip("SQLite has no row locks (it serialises writers)")
    session = make_session(program, [clinician], [patient])
    room = Room.objects.create(session=session)
    Participant.objects.create(room=room, user=patient)
    outcome: list[str] = []

    def other_writer() -> None:  # its own connection, as another daphne process would have
        try:
            with transaction.atomic():
                Room.objects.select_for_update(nowait=True).get(pk=room.pk)
            outcome.append("got the lock")
        except DatabaseError:
            outcome.append("locked")
        finally:
            connections.close_all()

    with transaction.atomic():
        selectors.participant_access(user=patient, session_id=session.pk, lock_room=True)
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join()
    assert outcome == ["locked"]
    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join()
    assert outcome == ["locked", "got the lock"]


# --- The same rule inside the loop's one-statement chat post (services._ChatPost) ---------------


def _statement_stores(user, session, client_id: str) -> bool:
    """Run ``_ChatPost`` (order lock, access read and rule, store) as the event loop does;
    True if it stored the message. The lock is released after."""
    from apps.rooms import services
    from apps.rooms.models import Message, MessageKind

    post = services.chat_post()
    now = timezone.now()
    message = Message(
        author=user, kind=MessageKind.CHAT, body="hi", client_id=client_id, created_at=now
    )
    limit, since = services.rate_window(now)
    key = services.order_lock_key(session.pk)
    params = post.post_params(
        message, user, key=key, session_id=session.pk, limit=limit, since=since
    )
    with connection.cursor() as cursor:
        try:
            cursor.execute(post.sql, params)
            new_id, _seq, _room_id, locked = cursor.fetchone()
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            assert cursor.fetchone()[0] is True  # the statement took it, whatever it found
    assert locked
    return new_id is not None


def _rule_lets_post(user, session) -> bool:
    """What the thread path decides before it stores (``services._enter``, then the mute);
    the statement stores exactly then."""
    from apps.rooms import services

    try:
        entered = services._enter(user=user, session_id=session.pk)
    except services.RoomError:
        return False
    assert entered.participant is not None
    return selectors.mute_in_force(entered.participant, now=timezone.now()) is None


needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the loop's statement is PostgreSQL's"
)


@needs_postgres
def test_the_loops_statement_stores_exactly_when_the_rule_lets_a_patient_post(program, clinician):
    stored = refused = 0
    for n, (case, patient, session, _) in enumerate(_every_patient_case(program, clinician)):
        expected = _rule_lets_post(patient, session)
        assert _statement_stores(patient, session, f"m-{n}") == expected, case
        stored, refused = stored + expected, refused + (not expected)
    assert stored and refused  # the matrix has both answers


@needs_postgres
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
def test_the_loops_statement_follows_the_room_rules(program, clinician, patient, case):
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
    expected = _rule_lets_post(patient, session)
    assert expected is (case in ("live", "opens_in_10_minutes", "ended_5_minutes_ago", "mute_over"))
    assert _statement_stores(patient, session, f"c-{case}") is expected


@needs_postgres
def test_the_loops_statement_lets_facilitators_post_and_no_other_staff(clinician, staff_room):
    session, room, cover, colleague = staff_room
    for n, (user, allowed) in enumerate(((clinician, True), (cover, True), (colleague, False))):
        Participant.objects.create(room=room, user=user, status="admitted")
        assert _rule_lets_post(user, session) is allowed
        assert _statement_stores(user, session, f"s-{n}") is allowed


@needs_postgres
def test_the_loops_statement_keeps_the_rate_limit_and_a_resend_once(
    program, clinician, patient, settings
):
    settings.ROOMS_RATE_LIMIT_MESSAGES = 2
    session = make_session(program, [clinician], [patient])
    room = Room.objects.create(session=session)
    Participant.objects.create(room=room, user=patient, status="admitted")
    assert _statement_stores(patient, session, "r-1")
    assert not _statement_stores(patient, session, "r-1")  # the same client id: stored once
    assert _statement_stores(patient, session, "r-2")
    assert not _statement_stores(patient, session, "r-3")  # the third in the window
    from apps.rooms.models import Message

    assert list(Message.objects.filter(room=room).values_list("client_id", "seq")) == [
        ("r-1", 1),
        ("r-2", 2),
    ]
    # A resend and a refusal take no seq: the next message follows with no hole.
    room.refresh_from_db()
    assert room.message_seq == 2
    marker = Participant.objects.get(room=room, user=patient).last_read_message_id
    assert marker == Message.objects.get(client_id="r-2").pk
