"""Caseload rows (and their fixed query count), program outcomes and chart geometry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.enrollment.models import Application
from apps.measures.services import safety_flag_raise
from apps.progress import charts, selectors
from apps.scheduling.models import Attendance, GroupMembership, Session
from tests.factories import patient_in
from tests.progress.factories import admit, checkin, days_before, discharge, score

pytestmark = pytest.mark.django_db


def _group(program, clinician):
    from tests.homework.factories import make_group

    return make_group(program)


def populate(patient, program, clinician, group, *, phq=(16, 9), flagged=False, checkin_ago=1):
    """A patient with everything a caseload row shows."""
    from apps.homework.models import Assignment
    from tests.homework.factories import assign, shipped_modules

    admit(patient, program, days_ago=30)
    score(patient, "phq9", phq[0], days_ago=30, context="intake")
    score(patient, "phq9", phq[1], days_ago=2)
    score(patient, "gad7", 12, days_ago=30, context="intake")
    score(patient, "gad7", 6, days_ago=2)
    checkin(patient, days_ago=checkin_ago)
    if flagged:
        safety_flag_raise(
            patient=patient, program=program, severity="high", source="t", reason="test"
        )
    modules = list(shipped_modules().values())
    a = assign(clinician, patient, modules[0], due_date=timezone.localdate() - dt.timedelta(days=2))
    assert Assignment.objects.filter(pk=a.pk).exists()
    GroupMembership.objects.create(
        group=group, patient=patient, from_date=timezone.localdate() - dt.timedelta(days=30)
    )
    return patient


def _sessions(group):
    """An attended session earlier in this program week (two hours ago, or at the week's
    start when the week began less than two hours ago: early on a Monday in the program's
    zone two hours ago is last week) and one tomorrow."""
    from apps.scheduling.selectors import week_start_for

    now = timezone.now()
    tz = group.program.time_zone
    monday = dt.datetime.combine(
        week_start_for(timezone.localdate(now, tz)), dt.time.min, tzinfo=tz
    )
    starts = max(now - dt.timedelta(hours=2), monday)
    past = Session.objects.create(
        group=group,
        occurrence_date=timezone.localdate(starts, tz),
        starts_at=starts,
        ends_at=min(starts + dt.timedelta(hours=1), now),
    )
    Session.objects.create(
        group=group,
        occurrence_date=(now + dt.timedelta(days=1)).date(),
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1, hours=3),
    )
    return past


def test_caseload_row_shows_change_flags_checkin_hours_homework_and_next_session(
    patient, program, clinician
):
    group = _group(program, clinician)
    past = _sessions(group)
    populate(patient, program, clinician, group, flagged=True, checkin_ago=2)
    Attendance.objects.create(session=past, patient=patient, status="present", minutes=60)
    [row] = selectors.caseload_rows(user=clinician)
    assert row.patient == patient
    assert (row.phq9.baseline, row.phq9.current, row.phq9.delta) == (16, 9, -7)
    assert row.phq9.response is False and row.phq9.meaningful is True
    assert row.gad7.response is True
    assert row.open_flags == 1
    assert row.days_since_checkin == 2
    assert row.hours.minutes == 60 and row.hours.floor_hours == 9.0 and row.below_floor
    assert row.homework_overdue == 1
    assert row.next_session is not None and row.next_session > timezone.now()


def test_caseload_next_session_is_the_earliest_one_the_patient_has_a_seat_for(
    patient, program, clinician
):
    """The next-session subquery starts from the patient's memberships (it was a scan of every
    future session per patient, bench finding 4); it keeps the seat rule of
    ``membership_covers``: cancelled sessions, waitlist places, and sessions after a
    membership ended or before it began do not count."""
    from tests.homework.factories import make_group

    now = timezone.now()
    today = timezone.localdate()

    def session(group, *, days, status="scheduled"):
        starts = now + dt.timedelta(days=days)
        return Session.objects.create(
            group=group,
            occurrence_date=timezone.localdate(starts),
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=3),
            status=status,
            cancel_reason="Facilitator ill" if status == "cancelled" else "",
        )

    def mine():
        return next(r for r in selectors.caseload_rows(user=clinician) if r.patient == patient)

    admit(patient, program, days_ago=30)
    ended = make_group(program, name="Ended")
    GroupMembership.objects.create(
        group=ended,
        patient=patient,
        from_date=today - dt.timedelta(days=30),
        to_date=today + dt.timedelta(days=2),
        status="ended",
    )
    session(ended, days=1, status="cancelled")
    session(ended, days=5)  # after the membership ended
    later = make_group(program, name="Later")
    GroupMembership.objects.create(
        group=later, patient=patient, from_date=today + dt.timedelta(days=6)
    )
    session(later, days=3)  # before the seat begins
    waitlisted = make_group(program, name="Waitlist")
    GroupMembership.objects.create(
        group=waitlisted,
        patient=patient,
        from_date=today,
        status="waitlisted",
        waitlist_position=1,
    )
    session(waitlisted, days=1)
    someone_elses = make_group(program, name="Other")
    GroupMembership.objects.create(
        group=someone_elses, patient=patient_in(program), from_date=today
    )
    session(someone_elses, days=1)
    row = mine()
    assert row.next_session is None

    second = session(ended, days=2)  # the last day of the ended seat
    first_of_later = session(later, days=7)
    row = mine()
    assert row.next_session == second.starts_at
    second.delete()
    row = mine()
    assert row.next_session == first_of_later.starts_at


def test_caseload_query_count_does_not_grow_with_patients(
    program, clinician, django_assert_num_queries
):
    group = _group(program, clinician)
    _sessions(group)

    def build(n, offset):
        for i in range(n):
            p = patient_in(program, email=f"cl{offset + i}@example.test")
            populate(p, program, clinician, group, flagged=i % 2 == 0)

    build(3, 0)
    # The patients with their subqueries, then weekly hours: attendance, appointments, seats.
    with django_assert_num_queries(4) as small:
        rows = selectors.caseload_rows(user=clinician)
    assert len(rows) == 3
    build(27, 100)
    with django_assert_num_queries(len(small.captured_queries)):
        rows = selectors.caseload_rows(user=clinician)
    assert len(rows) == 30


def test_caseload_is_only_the_clinicians_programs(
    patient, outsider, clinician, other_clinician, admin
):
    ids = [r.patient.pk for r in selectors.caseload_rows(user=clinician)]
    assert patient.pk in ids and outsider.pk not in ids
    assert patient.pk not in [r.patient.pk for r in selectors.caseload_rows(user=other_clinician)]
    assert selectors.caseload_rows(user=patient) == []
    assert selectors.caseload_rows(user=admin) == []


def test_caseload_puts_open_flags_first_then_sorts_and_filters(program, clinician):
    group = _group(program, clinician)
    a = populate(patient_in(program, full_name="Anna A"), program, clinician, group, phq=(10, 15))
    b = populate(
        patient_in(program, full_name="Bea B"),
        program,
        clinician,
        group,
        phq=(20, 4),
        checkin_ago=5,
    )
    c = populate(
        patient_in(program, full_name="Cal C"),
        program,
        clinician,
        group,
        phq=(12, 11),
        flagged=True,
    )
    names = lambda rows: [r.patient.pk for r in rows]  # noqa: E731
    assert names(selectors.caseload_rows(user=clinician)) == [c.pk, a.pk, b.pk]
    assert names(selectors.caseload_rows(user=clinician, sort="name")) == [a.pk, b.pk, c.pk]
    assert names(selectors.caseload_rows(user=clinician, sort="phq9")) == [a.pk, c.pk, b.pk]
    assert names(selectors.caseload_rows(user=clinician, sort="phq9_change"))[0] == a.pk
    assert names(selectors.caseload_rows(user=clinician, sort="checkin"))[0] == b.pk
    assert names(selectors.caseload_rows(user=clinician, flagged_only=True)) == [c.pk]
    assert names(selectors.caseload_rows(user=clinician, quiet_days=3)) == [b.pk]
    assert names(selectors.caseload_rows(user=clinician, search="bea")) == [b.pk]
    assert len(selectors.caseload_rows(user=clinician, below_floor_only=True)) == 3


def test_discharged_patients_leave_the_caseload_unless_asked(patient, program, clinician):
    app = admit(patient, program, days_ago=40)
    discharge(app, by=clinician)
    assert selectors.caseload_rows(user=clinician) == []
    assert len(selectors.caseload_rows(user=clinician, include_closed=True)) == 1


def test_program_outcomes(program, clinician, admin, other_clinician):
    def episode(name, phq, gad, *, reason="completed", discharged=True):
        p = patient_in(program, full_name=name)
        app = admit(p, program, days_ago=60)
        score(p, "phq9", phq[0], days_ago=60, context="intake")
        score(p, "gad7", gad[0], days_ago=60, context="intake")
        if discharged:
            score(p, "phq9", phq[1], days_ago=1, context="discharge")
            score(p, "gad7", gad[1], days_ago=1, context="discharge")
            discharge(app, by=clinician, reason=reason)
        return p

    episode("One", (18, 8), (14, 6))
    episode("Two", (12, 10), (10, 8), reason="withdrew")
    episode("Three", (20, 20), (15, 15), discharged=False)
    group = _group(program, clinician)
    past = _sessions(group)
    for i, status in enumerate(["present", "present", "late", "absent"]):
        p = patient_in(program, email=f"att{i}@example.test")
        Attendance.objects.create(session=past, patient=p, status=status, minutes=60)
    [row] = selectors.program_outcomes(user=admin, program_id=program.pk)
    assert (row.admissions, row.discharges, row.completions) == (3, 2, 1)
    assert row.completion_rate == 50.0
    assert row.phq9_change == -6.0 and row.phq9_pairs == 2  # (-10 + -2) / 2
    assert row.gad7_change == -5.0
    assert row.attendance_rate == 75.0
    assert [r.program for r in selectors.program_outcomes(user=clinician)] == [program]
    assert program not in [r.program for r in selectors.program_outcomes(user=other_clinician)]


def _readmitted(name, program, clinician):
    """Admitted 200 days ago, PHQ-9 22 at intake and 6 at discharge (120 days ago); applied
    again 35 days ago, PHQ-9 8 at the new intake, readmitted 30 days ago."""
    p = patient_in(program, full_name=name)
    first = admit(p, program, days_ago=200)
    Application.objects.filter(pk=first.pk).update(created_at=days_before(p, 205))
    score(p, "phq9", 22, days_ago=200, context="intake")
    score(p, "phq9", 6, days_ago=120, context="discharge")
    discharge(first, by=clinician, days_ago=120)
    second = admit(p, program, days_ago=30)
    Application.objects.filter(pk=second.pk).update(created_at=days_before(p, 35))
    score(p, "phq9", 8, days_ago=33, context="intake")
    return p, second


def test_a_readmitted_patients_change_starts_at_the_new_intake(program, clinician):
    # The first score ever (22, a past admission) would make 14 look like an improvement;
    # since this admission's intake (8) it is a meaningful rise.
    readmitted, _app = _readmitted("Zed Readmitted", program, clinician)
    score(readmitted, "phq9", 14, days_ago=2)
    steady = patient_in(program, full_name="Abe Steady")
    admit(steady, program, days_ago=30)
    score(steady, "phq9", 10, days_ago=30, context="intake")
    score(steady, "phq9", 9, days_ago=2)

    row = next(r for r in selectors.caseload_rows(user=clinician) if r.patient == readmitted)
    assert (row.phq9.baseline, row.phq9.current, row.phq9.status) == (8, 14, "worse")
    assert row.worsening
    # The page's SQL ordering (worsening first) counts from the same baseline.
    page = selectors.caseload_page(user=clinician, sort="flags")
    assert [r.patient for r in page.object_list] == [readmitted, steady]
    page = selectors.caseload_page(user=clinician, sort="phq9_change")
    assert [r.patient for r in page.object_list] == [readmitted, steady]

    from apps.progress.presentation import progress_context

    [phq9] = [
        b
        for b in progress_context(patient=readmitted, own=False)["measures"]
        if b["code"] == "phq9"
    ]
    assert phq9["baseline"].total == 8
    assert "PHQ-9 went from 8 to 14 since admission." in phq9["summary"]


def test_program_outcomes_pair_each_episode_with_its_own_intake(program, clinician, admin):
    readmitted, second = _readmitted("Zed Readmitted", program, clinician)
    score(readmitted, "phq9", 12, days_ago=1, context="discharge")
    discharge(second, by=clinician, days_ago=1)
    [row] = selectors.program_outcomes(user=admin, program_id=program.pk)
    assert (row.admissions, row.discharges, row.phq9_pairs) == (2, 2, 2)
    assert row.phq9_change == -6.0  # (6 - 22 + 12 - 8) / 2
    assert row.phq9_response_rate == 50.0  # the first stay's drop of 16 from 22 only


def test_daily_chart_leaves_gaps_for_missed_days():
    start = dt.date(2026, 1, 1)
    values = {start: 5.0, start + dt.timedelta(days=1): 6.0, start + dt.timedelta(days=3): 7.0}
    chart = charts.daily_chart(
        key="t",
        title="T",
        description="D",
        start=start,
        end=start + dt.timedelta(days=3),
        lines=[("Mood", "line-mood", values)],
        y_max=10,
    )
    [series] = chart.series
    assert len(series.paths) == 2  # day 3 is missing: two runs, not a drop to zero
    assert len(series.dots) == 3
    assert all(d.y < chart.plot_bottom for d in series.dots)


def test_score_chart_shades_every_band():
    chart = charts.score_chart(
        key="phq9",
        title="PHQ-9",
        description="d",
        points=[(dt.date(2026, 1, 1), 16, "a"), (dt.date(2026, 1, 15), 9, "b")],
        bands=[
            (0, 4, "Minimal"),
            (5, 9, "Mild"),
            (10, 14, "Moderate"),
            (15, 19, "Mod sev"),
            (20, 27, "Severe"),
        ],
        y_max=27,
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 1, 20),
    )
    assert [b.label for b in chart.bands] == ["Minimal", "Mild", "Moderate", "Mod sev", "Severe"]
    assert abs(sum(b.height for b in chart.bands) - chart.plot_height) < 1
    first, second = chart.series[0].dots
    assert first.y < second.y  # 16 is drawn higher than 9


def test_applicants_are_not_on_the_caseload_unless_asked(patient, program, clinician):
    from apps.enrollment.models import Application

    Application.objects.create(patient=patient, program=program, status="submitted")
    assert selectors.caseload_rows(user=clinician) == []
    assert len(selectors.caseload_rows(user=clinician, include_closed=True)) == 1


@pytest.mark.parametrize(
    ("minutes", "left", "days_left", "status"),
    [
        (312, 300, 2, "on_track"),
        (312, 120, 2, "behind"),
        (312, 600, 0, "behind"),
        (540, 0, 1, "met"),
    ],
)
def test_the_caseload_and_the_patients_page_read_the_floor_the_same_way(
    patient, program, minutes, left, days_left, status
):
    """Friday night, 5.2 of 9 h with a five-hour group still to come: the patient's page
    said "On track" while the caseload said "Below floor". One reading now."""
    from django.template.loader import render_to_string

    from apps.progress.presentation import caseload_cells
    from apps.scheduling.selectors import WeeklyHours

    hours = WeeklyHours(
        patient=patient,
        minutes=minutes,
        days=3,
        floor_minutes=540,
        min_days=3,
        scheduled_minutes_left=left,
        days_left=days_left,
    )
    assert hours.floor_status == status
    row = selectors.CaseloadRow(
        patient=patient,
        program=program,
        status="admitted",
        phq9=None,
        gad7=None,
        phq9_latest_at=None,
        open_flags=0,
        top_severity=None,
        last_checkin=None,
        days_since_checkin=None,
        hours=hours,
    )
    cell = caseload_cells([row])[0]
    patient_page = render_to_string("scheduling/partials/hours.html", {"hours": hours})
    assert row.below_floor == (status == "behind")
    assert ("Behind" in str(cell)) == ("Behind" in patient_page) == (status == "behind")
    assert ("On track" in str(cell)) == ("On track" in patient_page) == (status == "on_track")
