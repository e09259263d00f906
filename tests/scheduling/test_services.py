"""Services: series vs single edits, capacity and waitlist, discharge, appointments,
attendance, weekly hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from apps.scheduling import selectors, services, tasks
from apps.scheduling.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    AttendanceSource,
    ClinicianAvailability,
    GroupMembership,
    MembershipStatus,
    SeatOffer,
    Session,
    SessionStatus,
)
from apps.scheduling.recurrence import rrule_weekly
from tests.factories import clinician_in, patient_in
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db
LA = ZoneInfo("America/Los_Angeles")


def _series(group, **changes):
    data = {
        "name": group.name,
        "kind": group.kind,
        "track": group.track,
        "rrule": group.rrule,
        "start_time": group.start_time,
        "duration_minutes": group.duration_minutes,
        "start_date": group.start_date,
        "end_date": group.end_date,
        "capacity": group.capacity,
        "admission": group.admission,
    }
    data.update(changes)
    return services.GroupSeries(**data)


# --- series and occurrences ---------------------------------------------------------------


def test_series_edit_moves_future_unmodified_sessions_only(program, clinician):
    group = make_group(program, [clinician], days=range(7), start_time=dt.time(18, 0))
    now = timezone.now()
    future = list(Session.objects.filter(group=group, starts_at__gt=now).order_by("starts_at"))
    moved, cancelled = future[2], future[3]
    services.session_update(
        session=moved, by=clinician, starts_at=moved.starts_at + dt.timedelta(hours=1)
    )
    services.session_cancel(session=cancelled, by=clinician, reason="Clinic holiday")
    moved.refresh_from_db()
    moved_start = moved.starts_at
    past = Session.objects.create(
        group=group,
        occurrence_date=timezone.localdate(now, LA) - dt.timedelta(days=30),
        starts_at=now - dt.timedelta(days=30),
        ends_at=now - dt.timedelta(days=30) + dt.timedelta(hours=3),
    )

    services.group_update_series(
        group=group, by=clinician, series=_series(group, start_time=dt.time(17, 0))
    )

    moved.refresh_from_db()
    cancelled.refresh_from_db()
    past.refresh_from_db()
    assert moved.starts_at == moved_start  # edited on its own: untouched
    assert cancelled.status == SessionStatus.CANCELLED
    assert past.starts_at == now - dt.timedelta(days=30)
    others = Session.objects.filter(group=group, starts_at__gt=now, is_modified=False)
    assert others.exists()
    assert {s.starts_at.astimezone(LA).time() for s in others} == {dt.time(17, 0)}


def test_series_edit_dropping_a_day_removes_its_future_sessions(program, clinician):
    group = make_group(program, [clinician], days=(0, 2, 4))
    services.group_update_series(
        group=group, by=clinician, series=_series(group, rrule=rrule_weekly([0, 2]))
    )
    future = Session.objects.filter(group=group, starts_at__gt=timezone.now())
    assert future.exists()
    assert 4 not in {s.occurrence_date.weekday() for s in future}


def test_cancel_one_occurrence_leaves_series(program, clinician):
    group = make_group(program, [clinician], days=range(7))
    sessions = list(Session.objects.filter(group=group, starts_at__gt=timezone.now())[:3])
    services.session_cancel(session=sessions[1], by=clinician, reason="Facilitator ill")
    statuses = [s.status for s in Session.objects.filter(pk__in=[s.pk for s in sessions])]
    assert statuses.count(SessionStatus.CANCELLED) == 1
    # Re-generating does not resurrect or duplicate the cancelled occurrence.
    assert services.sessions_generate(group=group) == 0


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_cancel_requires_short_reason(program, clinician, reason):
    group = make_group(program, [clinician], days=range(7))
    session = Session.objects.filter(group=group, starts_at__gt=timezone.now()).first()
    with pytest.raises(services.SchedulingError):
        services.session_cancel(session=session, by=clinician, reason=reason)
    session.refresh_from_db()
    assert session.status == SessionStatus.SCHEDULED


def test_other_programs_clinician_cannot_cancel(program, clinician, other_clinician):
    group = make_group(program, [clinician], days=range(7))
    session = Session.objects.filter(group=group).first()
    with pytest.raises(services.SchedulingError):
        services.session_cancel(session=session, by=other_clinician, reason="x")


def test_group_create_rejects_bad_input(program, clinician, other_clinician):
    good = {
        "name": "G",
        "kind": "process",
        "track": "evening",
        "rrule": rrule_weekly([0]),
        "start_time": dt.time(18),
        "duration_minutes": 180,
        "start_date": dt.date(2026, 1, 5),
    }
    bad_cases = [
        ({"rrule": "FREQ=WEEKLY"}, [clinician]),
        ({"end_date": dt.date(2026, 1, 1)}, [clinician]),
        ({"capacity": 0}, [clinician]),
        ({}, []),
        ({}, [other_clinician]),
    ]
    for changes, facilitators in bad_cases:
        with pytest.raises(services.SchedulingError):
            services.group_create(
                program=program,
                by=clinician,
                series=services.GroupSeries(**{**good, **changes}),
                facilitators=facilitators,
            )
    assert not program.groups.exists()


def test_periodic_task_extends_horizon_idempotently(program, clinician):
    group = make_group(program, [clinician], days=range(7))
    Session.objects.filter(
        group=group, starts_at__gt=timezone.now() + dt.timedelta(weeks=2)
    ).delete()
    created = tasks.extend_sessions()
    assert created > 0
    assert tasks.extend_sessions() == 0
    assert settings.CELERY_BEAT_SCHEDULE["scheduling-extend-sessions"]["task"] == (
        "scheduling.extend_sessions"
    )


# --- memberships --------------------------------------------------------------------------


def test_full_group_offers_ordered_waitlist_and_promotes(program, clinician):
    group = make_group(program, [clinician], capacity=2)
    a, b, c, d = (patient_in(program) for _ in range(4))
    services.membership_add(group=group, patient=a, by=clinician)
    services.membership_add(group=group, patient=b, by=clinician)
    with pytest.raises(services.GroupFullError, match="full"):
        services.membership_add(group=group, patient=c, by=clinician)
    wc = services.membership_add(group=group, patient=c, by=clinician, waitlist_if_full=True)
    wd = services.membership_add(group=group, patient=d, by=clinician, waitlist_if_full=True)
    assert (wc.status, wc.waitlist_position) == (MembershipStatus.WAITLISTED, 1)
    assert wd.waitlist_position == 2
    with pytest.raises(services.SchedulingError, match="waitlist"):
        services.membership_add(group=group, patient=c, by=clinician, waitlist_if_full=True)

    services.membership_end(
        membership=GroupMembership.objects.get(group=group, patient=a), by=clinician
    )
    # The freed seat is offered to the first in line (staff confirm, the patient accepts:
    # tests/scheduling/test_seat_offers.py); the waitlist order is unchanged meanwhile.
    wc.refresh_from_db()
    wd.refresh_from_db()
    assert list(SeatOffer.objects.values_list("membership_id", "status")) == [(wc.pk, "pending")]
    assert (wc.waitlist_position, wd.waitlist_position) == (1, 2)


def test_capacity_cannot_drop_below_membership(program, clinician):
    group = make_group(program, [clinician], capacity=3)
    for _ in range(3):
        services.membership_add(group=group, patient=patient_in(program), by=clinician)
    with pytest.raises(services.SchedulingError, match="below"):
        services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    group.refresh_from_db()
    assert group.capacity == 3


def test_rolling_admission_gives_future_sessions_only(program, clinician, patient):
    group = make_group(program, [clinician], days=range(7))
    services.membership_add(group=group, patient=patient, by=clinician)
    today = timezone.localdate(timezone.now(), LA)
    mine = selectors.sessions_for_patient(patient=patient)
    assert mine.exists()
    assert all(s.occurrence_date >= today for s in mine)
    assert mine.count() == Session.objects.filter(group=group, occurrence_date__gte=today).count()


def test_patient_of_another_program_cannot_join(program, clinician, outsider):
    group = make_group(program, [clinician])
    with pytest.raises(services.SchedulingError):
        services.membership_add(group=group, patient=outsider, by=clinician)


def test_closed_group_refuses_members_after_start(program, clinician, patient):
    group = make_group(program, [clinician], admission="closed")
    with pytest.raises(services.SchedulingError, match="closed"):
        services.membership_add(group=group, patient=patient, by=clinician)


def test_discharge_ends_future_memberships_and_frees_seat(program, clinician, patient):
    group = make_group(program, [clinician], days=range(7), capacity=1)
    other = make_group(program, [clinician], days=range(7), name="Skills", start_time=dt.time(9))
    waiting = patient_in(program)
    services.membership_add(group=group, patient=patient, by=clinician)
    services.membership_add(group=other, patient=patient, by=clinician)
    services.membership_add(group=group, patient=waiting, by=clinician, waitlist_if_full=True)
    today = timezone.localdate(timezone.now(), LA)

    assert services.memberships_end_for_patient(patient=patient, on=today) == 2

    assert (
        not selectors.sessions_for_patient(patient=patient)
        .filter(occurrence_date__gt=today)
        .exists()
    )
    place = GroupMembership.objects.get(group=group, patient=waiting)
    assert SeatOffer.objects.get(status="pending").membership == place
    assert not GroupMembership.objects.filter(
        patient=patient, status__in=["active", "waitlisted"]
    ).exists()


# --- attendance ---------------------------------------------------------------------------


@pytest.fixture
def past_session(program, clinician, patient):
    group = make_group(program, [clinician], days=range(7))
    services.membership_add(group=group, patient=patient, by=clinician, from_date=group.start_date)
    services.sessions_generate(group=group, since=group.start_date)
    return Session.objects.filter(group=group, ends_at__lt=timezone.now()).last()


def test_confirm_roster_records_and_completes(past_session, clinician, patient):
    services.attendance_record_presence(
        session=past_session,
        patient=patient,
        joined_at=past_session.starts_at,
        left_at=past_session.ends_at,
    )
    [att] = services.attendance_confirm_roster(
        session=past_session,
        by=clinician,
        entries=[services.AttendanceEntry(patient.pk, "left_early", 120)],
    )
    assert (att.status, att.minutes, att.source) == ("left_early", 120, AttendanceSource.CONFIRMED)
    past_session.refresh_from_db()
    assert past_session.status == SessionStatus.COMPLETED
    # A later presence report does not overwrite the facilitator's word.
    services.attendance_record_presence(
        session=past_session,
        patient=patient,
        joined_at=past_session.starts_at,
        left_at=past_session.ends_at,
    )
    att.refresh_from_db()
    assert (att.status, att.minutes) == ("left_early", 120)


@pytest.mark.parametrize(
    "entry",
    [
        ("present", 500),
        ("present", -1),
        ("bogus", 10),
        ("absent", 30),
    ],
)
def test_confirm_roster_rejects_bad_entries(past_session, clinician, patient, entry):
    with pytest.raises(services.SchedulingError):
        services.attendance_confirm_roster(
            session=past_session,
            by=clinician,
            entries=[services.AttendanceEntry(patient.pk, *entry)],
        )
    assert not Attendance.objects.exists()


def test_confirm_roster_rejects_non_member(past_session, clinician, outsider):
    with pytest.raises(services.SchedulingError):
        services.attendance_confirm_roster(
            session=past_session,
            by=clinician,
            entries=[services.AttendanceEntry(outsider.pk, "present", 10)],
        )


def test_weekly_hours_counts_attendance_and_individual(program, clinician, patient):
    # A fixed week so the arithmetic is exact: Mon 2026-03-02 .. Sun 03-08.
    now = dt.datetime(2026, 3, 5, 23, 0, tzinfo=dt.UTC)  # Thursday afternoon in LA
    group = make_group(
        program,
        [clinician],
        days=(0, 1, 2),
        start_date=dt.date(2026, 3, 2),
        duration_minutes=120,
        now=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
    )
    services.membership_add(
        group=group, patient=patient, by=clinician, now=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    )
    sessions = list(Session.objects.filter(group=group).order_by("starts_at")[:3])
    Attendance.objects.create(session=sessions[0], patient=patient, status="present", minutes=120)
    Attendance.objects.create(session=sessions[1], patient=patient, status="late", minutes=90)
    Attendance.objects.create(session=sessions[2], patient=patient, status="absent", minutes=0)
    start = dt.datetime(2026, 3, 4, 10, tzinfo=LA)
    Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=150),
        status="completed",
    )
    [row] = selectors.weekly_hours(
        patients=[patient], program=program, week_start=dt.date(2026, 3, 2), now=now
    )
    assert row.minutes == 120 + 90 + 150  # 6 h
    assert row.hours == 6.0 and row.floor_hours == 9.0
    assert row.days == 3  # Mon and Tue groups, Wed appointment
    assert row.below_floor
    assert row.days_left == 4  # Thu..Sun


# --- availability and appointments --------------------------------------------------------


@pytest.fixture
def open_hours(clinician):
    services.availability_set(
        clinician=clinician,
        by=clinician,
        windows=[(d, dt.time(9, 0), dt.time(17, 0)) for d in range(7)],
    )


def test_weekly_hours_room_left_counts_seats_and_bookings_in_three_queries(
    program, clinician, patient, django_assert_num_queries
):
    """Room left this week: scheduled sessions ahead the patient has a seat for, and booked or
    requested appointments ahead; three queries for any number of patients (was five)."""
    now = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)  # Monday morning in LA
    group = make_group(
        program,
        [clinician],
        days=(0, 1, 2),
        start_date=dt.date(2026, 3, 2),
        duration_minutes=120,
        now=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
    )
    services.membership_add(
        group=group, patient=patient, by=clinician, now=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    )
    late_joiner = patient_in(program)
    GroupMembership.objects.create(
        group=group, patient=late_joiner, from_date=dt.date(2026, 3, 3), status="active"
    )
    tuesday = Session.objects.get(group=group, occurrence_date=dt.date(2026, 3, 3))
    tuesday.status = "cancelled"
    tuesday.cancel_reason = "Holiday"
    tuesday.save(update_fields=["status", "cancel_reason"])
    thursday = dt.datetime(2026, 3, 5, 10, tzinfo=LA)
    for status, minutes in (("booked", 60), ("requested", 30), ("cancelled", 45)):
        Appointment.objects.create(
            program=program,
            clinician=clinician,
            patient=patient,
            kind="individual",
            starts_at=thursday,
            ends_at=thursday + dt.timedelta(minutes=minutes),
            status=status,
        )
    with django_assert_num_queries(3):
        mine, theirs = selectors.weekly_hours(
            patients=[patient, late_joiner],
            program=program,
            week_start=dt.date(2026, 3, 2),
            now=now,
        )
    assert mine.minutes == 0
    assert mine.scheduled_minutes_left == 120 + 120 + 60 + 30  # Mon and Wed; booked, requested
    assert theirs.scheduled_minutes_left == 120  # Wed only: no seat on Monday, Tue cancelled
    with django_assert_num_queries(2):  # a past week has nothing left to look up
        selectors.weekly_hours(
            patients=[patient], program=program, week_start=dt.date(2026, 2, 23), now=now
        )


def _tomorrow_at(hour, minute=0):
    day = timezone.localdate(timezone.now(), LA) + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LA)


def test_overlapping_availability_refused(clinician):
    with pytest.raises(services.SchedulingError, match="overlap"):
        services.availability_set(
            clinician=clinician,
            by=clinician,
            windows=[(0, dt.time(9), dt.time(12)), (0, dt.time(11), dt.time(13))],
        )
    assert not ClinicianAvailability.objects.exists()


def test_book_outside_hours_past_or_inverted_refused(open_hours, clinician, patient):
    cases = [
        (_tomorrow_at(7), _tomorrow_at(8)),  # outside availability
        (timezone.now() - dt.timedelta(days=1), timezone.now() - dt.timedelta(days=1, hours=-1)),
        (_tomorrow_at(11), _tomorrow_at(10)),  # end before start
    ]
    for start, end in cases:
        with pytest.raises(services.SchedulingError):
            services.appointment_book(
                clinician=clinician,
                patient=patient,
                kind="individual",
                starts_at=start,
                ends_at=end,
                by=clinician,
            )
    assert not Appointment.objects.exists()


def test_conflicts_with_appointments_and_groups(open_hours, program, clinician, patient):
    services.appointment_book(
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=_tomorrow_at(10),
        ends_at=_tomorrow_at(11),
        by=clinician,
    )
    other_patient = patient_in(program)
    with pytest.raises(services.SchedulingError, match="clinician has another"):
        services.appointment_book(
            clinician=clinician,
            patient=other_patient,
            kind="individual",
            starts_at=_tomorrow_at(10, 30),
            ends_at=_tomorrow_at(11, 30),
            by=clinician,
        )
    # The patient is in a 14:00 group tomorrow run by a colleague.
    colleague = clinician_in(program)
    group = make_group(
        program, [colleague], days=range(7), start_time=dt.time(14), duration_minutes=60
    )
    services.membership_add(group=group, patient=patient, by=clinician)
    with pytest.raises(services.SchedulingError, match="patient has a group"):
        services.appointment_book(
            clinician=clinician,
            patient=patient,
            kind="individual",
            starts_at=_tomorrow_at(14, 30),
            ends_at=_tomorrow_at(15),
            by=clinician,
        )
    # The clinician runs a 16:00 group.
    make_group(
        program,
        [clinician],
        days=range(7),
        start_time=dt.time(16),
        duration_minutes=60,
        name="Mine",
    )
    with pytest.raises(services.SchedulingError, match="running a group"):
        services.appointment_book(
            clinician=clinician,
            patient=other_patient,
            kind="individual",
            starts_at=_tomorrow_at(16),
            ends_at=_tomorrow_at(16, 50),
            by=clinician,
        )
    assert Appointment.objects.count() == 1


def test_patient_request_and_reschedule_within_open_slots(open_hours, clinician, patient):
    slots = selectors.open_slots(
        clinician=clinician, patient=patient, start_day=timezone.localdate()
    )
    assert slots and all(s > timezone.now() for s in slots)
    appt = services.appointment_book(
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=slots[0],
        ends_at=slots[0] + dt.timedelta(minutes=50),
        by=patient,
    )
    assert appt.status == AppointmentStatus.REQUESTED
    after = selectors.open_slots(
        clinician=clinician, patient=patient, start_day=timezone.localdate()
    )
    assert slots[0] not in after
    moved = services.appointment_reschedule(appointment=appt, by=patient, starts_at=after[5])
    assert moved.starts_at == after[5]
    services.appointment_set_status(appointment=moved, by=clinician, status="booked")
    with pytest.raises(services.SchedulingError):
        services.appointment_set_status(appointment=moved, by=patient, status="completed")


def test_patient_cannot_book_for_someone_else(open_hours, program, clinician, patient):
    other = patient_in(program)
    with pytest.raises(services.SchedulingError):
        services.appointment_book(
            clinician=clinician,
            patient=other,
            kind="individual",
            starts_at=_tomorrow_at(10),
            ends_at=_tomorrow_at(11),
            by=patient,
        )


def test_availability_exception_blocks_booking(open_hours, clinician, patient):
    services.availability_exception_add(
        clinician=clinician, by=clinician, date=_tomorrow_at(10).date(), reason="Leave"
    )
    with pytest.raises(services.SchedulingError, match="open hours"):
        services.appointment_book(
            clinician=clinician,
            patient=patient,
            kind="individual",
            starts_at=_tomorrow_at(10),
            ends_at=_tomorrow_at(11),
            by=clinician,
        )


def test_cancellation_queues_a_notice_for_members(program, clinician, patient):
    notifications = pytest.importorskip("apps.notifications.services")
    if not hasattr(notifications, "notification_schedule"):
        pytest.skip("notifications has no notification_schedule yet")
    from apps.notifications.models import Outbox

    group = make_group(program, [clinician], days=range(7))
    services.membership_add(group=group, patient=patient, by=clinician)
    session = Session.objects.filter(group=group, starts_at__gt=timezone.now()).first()
    services.session_cancel(session=session, by=clinician, reason="Holiday")
    rows = Outbox.objects.filter(recipient=patient, kind="session_cancelled")
    assert rows.exists()
    assert all(f"scheduling.session:{session.pk}" in r.event_key for r in rows)


def test_other_programs_clinician_cannot_end_memberships(
    program, clinician, patient, other_clinician
):
    group = make_group(program, [clinician])
    services.membership_add(group=group, patient=patient, by=clinician)
    with pytest.raises(services.SchedulingError):
        services.memberships_end_for_patient(
            patient=patient, on=timezone.localdate(), by=other_clinician
        )
    assert GroupMembership.objects.get(patient=patient).status == MembershipStatus.ACTIVE
