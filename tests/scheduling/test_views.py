"""Pages: access refusals, what each role sees, bad input, pinned query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.scheduling import services
from apps.scheduling.models import (
    Attendance,
    GroupMembership,
    Session,
    SessionStatus,
)
from tests.factories import patient_in
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(program, clinician, patient):
    group = make_group(program, [clinician], days=range(7))
    services.membership_add(group=group, patient=patient, by=clinician, from_date=group.start_date)
    services.sessions_generate(group=group, since=group.start_date)
    return group


@pytest.fixture
def session(group):
    return Session.objects.filter(group=group, starts_at__gt=timezone.now()).first()


@pytest.fixture
def past_session(group):
    return Session.objects.filter(group=group, ends_at__lt=timezone.now()).last()


@pytest.fixture
def live_session(group):
    now = timezone.now()
    s = Session.objects.get(
        group=group, occurrence_date=timezone.localdate(now, group.program.time_zone)
    )
    s.starts_at, s.ends_at = now + dt.timedelta(minutes=10), now + dt.timedelta(hours=2)
    s.save()
    return s


def _staff_urls(group, session, program):
    membership = GroupMembership.objects.filter(group=group).first()
    return [
        ("get", reverse("scheduling:today")),
        ("get", reverse("scheduling:group_list")),
        ("get", reverse("scheduling:group_create")),
        ("get", reverse("scheduling:group_detail", args=[group.pk])),
        ("get", reverse("scheduling:group_edit", args=[group.pk])),
        ("post", reverse("scheduling:member_add", args=[group.pk])),
        ("post", reverse("scheduling:member_end", args=[membership.pk])),
        ("get", reverse("scheduling:session_detail", args=[session.pk])),
        ("post", reverse("scheduling:session_cancel", args=[session.pk])),
        ("get", reverse("scheduling:session_attendance", args=[session.pk])),
        ("get", reverse("scheduling:program_week", args=[program.pk])),
        ("get", reverse("scheduling:program_hours", args=[program.pk])),
        ("get", reverse("scheduling:program_hours_csv", args=[program.pk])),
        ("get", reverse("scheduling:appointment_book")),
    ]


def test_anonymous_is_sent_to_login_everywhere(client, group, session, program):
    urls = [
        *_staff_urls(group, session, program),
        ("get", reverse("scheduling:my_week")),
        ("get", reverse("scheduling:appointment_request")),
        ("get", reverse("scheduling:calendar")),
        ("get", reverse("scheduling:availability")),
    ]
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/accounts/login/" in response["Location"], url
    assert session.status == SessionStatus.SCHEDULED


@pytest.mark.parametrize("who", ["outsider", "patient", "other_clinician"])
def test_staff_pages_refused_to_patients_and_other_program(
    client, login, request, who, group, session, program
):
    login(client, request.getfixturevalue(who))
    for method, url in _staff_urls(group, session, program):
        if who == "other_clinician" and url in (
            reverse("scheduling:today"),
            reverse("scheduling:group_list"),
            reverse("scheduling:group_create"),
            reverse("scheduling:appointment_book"),
        ):
            continue  # their own pages; checked below that they hold nothing of ours
        response = getattr(client, method)(url, {"reason": "x", "patient": "1"})
        assert response.status_code == 404, (who, url)
    session.refresh_from_db()
    assert session.status == SessionStatus.SCHEDULED
    assert GroupMembership.objects.filter(status="active").count() == 1


def test_other_clinician_sees_none_of_our_groups(client, login, other_clinician, group, patient):
    login(client, other_clinician)
    assert group.name not in client.get(reverse("scheduling:group_list")).content.decode()
    page = client.get(reverse("scheduling:appointment_book")).content.decode()
    assert patient.full_name not in page


def test_clinician_pages_refused_to_patients(client, login, patient):
    login(client, patient)
    assert client.get(reverse("scheduling:today")).status_code == 404
    assert client.get(reverse("scheduling:availability")).status_code == 404


def test_patient_pages_refused_to_clinicians(client, login, clinician):
    login(client, clinician)
    assert client.get(reverse("scheduling:my_week")).status_code == 404
    assert client.get(reverse("scheduling:appointment_request")).status_code == 404


def test_outsider_cannot_touch_anothers_appointment(
    client, login, clinician, patient, outsider, other_clinician
):
    services.availability_set(
        clinician=clinician, by=clinician, windows=[(d, dt.time(6), dt.time(22)) for d in range(7)]
    )
    day = timezone.localdate() + dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(8), tzinfo=clinician.time_zone)
    appt = services.appointment_book(
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=50),
        by=clinician,
    )
    for user in (outsider, other_clinician):
        login(client, user)
        assert (
            client.get(reverse("scheduling:appointment_reschedule", args=[appt.pk])).status_code
            == 404
        )
        assert (
            client.post(
                reverse("scheduling:appointment_status", args=[appt.pk]), {"status": "cancelled"}
            ).status_code
            == 404
        )
    appt.refresh_from_db()
    assert appt.status == "booked"


def test_my_week_shows_sessions_cancellation_and_hours(
    client, login, patient, clinician, group, past_session
):
    Attendance.objects.create(session=past_session, patient=patient, status="present", minutes=180)
    upcoming = Session.objects.filter(group=group, starts_at__gt=timezone.now()).order_by(
        "starts_at"
    )
    cancelled = services.session_cancel(session=upcoming[0], by=clinician, reason="Clinic holiday")
    login(client, patient)
    response = client.get(reverse("scheduling:my_week"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Evening Process Group" in page
    assert "hours this week" in page
    assert AuditEvent.objects.filter(actor=patient, action="view", patient=patient).exists()
    # The next session is in next week on a Sunday evening (Monday's): look at its own week,
    # which is this week on any other day.
    day = timezone.localtime(cancelled.starts_at, patient.time_zone).date()
    week = client.get(reverse("scheduling:my_week"), {"week": day.isoformat()}).content.decode()
    assert "Clinic holiday" in week and "Cancelled" in week


def test_outsider_week_shows_nothing_of_the_group(client, login, outsider, group):
    login(client, outsider)
    assert "Evening Process Group" not in client.get(reverse("scheduling:my_week")).content.decode()


def test_join_button_live_from_15_minutes_before(client, login, patient, live_session):
    login(client, patient)
    page = client.get(reverse("scheduling:my_week")).content.decode()
    assert f'href="/rooms/{live_session.pk}/"' in page
    live_session.starts_at = timezone.now() + dt.timedelta(minutes=25)
    live_session.save()
    page = client.get(reverse("scheduling:my_week")).content.decode()
    assert f'href="/rooms/{live_session.pk}/"' not in page


def test_a_running_session_offers_join_not_a_provisional_left_early(
    client, login, patient, live_session
):
    """A patient who dropped out of a running group sees Join (to go back), not 'Left early ·
    0 min', until the session ends."""
    Attendance.objects.create(session=live_session, patient=patient, status="left_early", minutes=0)
    login(client, patient)
    page = client.get(reverse("scheduling:my_week")).content.decode()
    assert f'href="/rooms/{live_session.pk}/"' in page
    assert "Left early" not in page


def test_dashboard_panels(client, login, patient, clinician, live_session):
    login(client, patient)
    page = client.get("/").content.decode()
    assert "This week" in page and "hours this week" in page
    login(client, clinician)
    page = client.get("/").content.decode()
    assert "My groups today" in page and "Evening Process Group" in page


def test_bad_week_param_is_ignored(client, login, patient, group):
    login(client, patient)
    for value in ("garbage", "9999-99-99", "1900-01-01"):
        assert client.get(reverse("scheduling:my_week"), {"week": value}).status_code == 200


# --- clinician flows and bad input ---------------------------------------------------------


def test_create_group_form_errors_write_nothing(client, login, clinician, program):
    login(client, clinician)
    data = {
        "program": program.pk,
        "name": "New",
        "kind": "process",
        "track": "evening",
        "start_time": "18:00",
        "duration_minutes": "180",
        "start_date": "2026-01-05",
        "capacity": "12",
        "admission": "open",
        "facilitators": [clinician.pk],
    }
    response = client.post(reverse("scheduling:group_create"), data)  # no days
    assert response.status_code == 200
    assert "Choose at least one day" in response.content.decode()
    response = client.post(
        reverse("scheduling:group_create"), {**data, "days": ["0"], "end_date": "2025-01-01"}
    )
    assert "before the first day" in response.content.decode()
    response = client.post(reverse("scheduling:group_create"), {**data, "days": ["9"]})
    assert response.status_code == 200
    assert not program.groups.exists()
    response = client.post(reverse("scheduling:group_create"), {**data, "days": ["0", "2"]})
    assert response.status_code == 302
    assert program.groups.get().sessions.exists()


def test_member_add_and_waitlist_via_page(client, login, clinician, program, patient):
    group = make_group(program, [clinician], capacity=1, name="Small")
    second = patient_in(program)
    login(client, clinician)
    url = reverse("scheduling:member_add", args=[group.pk])
    client.post(url, {"patient": patient.pk})
    response = client.post(url, {"patient": second.pk}, follow=True)
    assert "full" in response.content.decode()
    response = client.post(url, {"patient": second.pk, "waitlist": "on"}, follow=True)
    assert "waitlist at position 1" in response.content.decode()
    assert client.post(url, {"patient": "abc"}).status_code == 302
    assert GroupMembership.objects.filter(group=group).count() == 2


def test_cancel_without_reason_changes_nothing(client, login, clinician, session):
    login(client, clinician)
    response = client.post(
        reverse("scheduling:session_cancel", args=[session.pk]), {"reason": ""}, follow=True
    )
    assert "Give a reason" in response.content.decode()
    session.refresh_from_db()
    assert session.status == SessionStatus.SCHEDULED


def test_attendance_screen_confirms_roster(client, login, clinician, patient, past_session):
    login(client, clinician)
    url = reverse("scheduling:session_attendance", args=[past_session.pk])
    assert patient.full_name in client.get(url).content.decode()
    bad = client.post(url, {f"status_{patient.pk}": "present", f"minutes_{patient.pk}": "999"})
    assert bad.status_code == 400
    assert not Attendance.objects.exists()
    bad = client.post(url, {f"status_{patient.pk}": "present", f"minutes_{patient.pk}": "ten"})
    assert bad.status_code == 400
    ok = client.post(url, {f"status_{patient.pk}": "late", f"minutes_{patient.pk}": "150"})
    assert ok.status_code == 302
    att = Attendance.objects.get()
    assert (att.status, att.minutes, att.source) == ("late", 150, "confirmed")


def test_session_edit_moves_one_occurrence(client, login, clinician, session):
    login(client, clinician)
    local = timezone.localtime(session.starts_at, clinician.time_zone)
    response = client.post(
        reverse("scheduling:session_detail", args=[session.pk]),
        {"date": local.date().isoformat(), "start_time": "10:00", "end_time": "09:00"},
    )
    assert "before the start" in response.content.decode()
    response = client.post(
        reverse("scheduling:session_detail", args=[session.pk]),
        {
            "date": local.date().isoformat(),
            "start_time": "19:00",
            "end_time": "21:00",
            "topic": "Boundaries",
        },
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.is_modified and session.topic == "Boundaries"
    assert timezone.localtime(session.starts_at, clinician.time_zone).hour == 19


def test_availability_editor_rejects_overlap(client, login, clinician):
    login(client, clinician)
    url = reverse("scheduling:availability")
    ok = client.post(
        url, {"action": "add", "w-weekday": "0", "w-start_time": "09:00", "w-end_time": "12:00"}
    )
    assert ok.status_code == 302
    bad = client.post(
        url, {"action": "add", "w-weekday": "0", "w-start_time": "11:00", "w-end_time": "13:00"}
    )
    assert bad.status_code == 400 and "overlap" in bad.content.decode()
    bad = client.post(url, {"action": "remove", "window": "nope"})
    assert bad.status_code == 400
    assert client.post(url, {"action": "???"}).status_code == 400
    assert clinician.availability.count() == 1


def test_hours_table_and_csv(client, login, clinician, patient, program, past_session):
    Attendance.objects.create(session=past_session, patient=patient, status="present", minutes=180)
    login(client, clinician)
    page = client.get(reverse("scheduling:program_hours", args=[program.pk])).content.decode()
    assert patient.full_name in page and "of 9.0" in page
    response = client.get(reverse("scheduling:program_hours_csv", args=[program.pk]))
    assert response.status_code == 200
    lines = response.content.decode().strip().splitlines()
    assert lines[0].startswith("patient_id,patient,week_start,hours")
    assert any(str(patient.pk) in line for line in lines[1:])
    assert AuditEvent.objects.filter(actor=clinician, action="export").exists()


def test_patient_requests_slot_and_bad_slot(client, login, clinician, patient):
    services.availability_set(
        clinician=clinician, by=clinician, windows=[(d, dt.time(6), dt.time(22)) for d in range(7)]
    )
    login(client, patient)
    url = reverse("scheduling:appointment_request")
    page = client.get(url, {"clinician": clinician.pk})
    assert page.status_code == 200
    assert client.get(url, {"clinician": "999999"}).status_code == 404
    bad = client.post(
        url, {"clinician": clinician.pk, "slot": "2001-01-01T00:00:00+00:00", "kind": "individual"}
    )
    assert "no longer open" in bad.content.decode()
    slot = page.context["form"].fields["slot"].choices[0][0]
    ok = client.post(url, {"clinician": clinician.pk, "slot": slot, "kind": "individual"})
    assert ok.status_code == 302
    assert patient.patient_appointments.get().status == "requested"


# --- query counts ------------------------------------------------------------------------


def _more_groups(program, clinician, patient, n):
    for i in range(n):
        g = make_group(
            program,
            [clinician],
            days=range(7),
            name=f"Extra {i}",
            start_time=dt.time(8 + i),
            duration_minutes=50,  # one an hour: a facilitator cannot run two at once
        )
        services.membership_add(group=g, patient=patient, by=clinician, from_date=g.start_date)
        services.sessions_generate(group=g, since=g.start_date)
        for s in Session.objects.filter(group=g, ends_at__lt=timezone.now())[:5]:
            Attendance.objects.create(session=s, patient=patient, status="present", minutes=60)


def _count(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("page", ["my_week", "today", "program_week"])
def test_query_counts_do_not_grow_with_sessions(
    client, login, program, clinician, patient, group, page, django_assert_num_queries
):
    user = patient if page == "my_week" else clinician
    url = (
        reverse("scheduling:program_week", args=[program.pk])
        if page == "program_week"
        else reverse(f"scheduling:{page}")
    )
    login(client, user)
    client.get(url)  # warm up (session, caches)
    baseline = _count(client, url)
    _more_groups(program, clinician, patient, 3)
    with django_assert_num_queries(baseline):
        assert client.get(url).status_code == 200
    # Our own queries are a fixed handful; the rest is session, user, MFA and other apps'
    # context processors (e.g. unread notifications), so leave some room for those.
    assert baseline <= 20


@pytest.mark.parametrize("page", ["hours", "group"])
def test_roster_and_hours_query_counts_do_not_grow(
    client, login, program, clinician, group, page, django_assert_num_queries
):
    url = (
        reverse("scheduling:program_hours", args=[program.pk])
        if page == "hours"
        else reverse("scheduling:group_detail", args=[group.pk])
    )
    login(client, clinician)
    client.get(url)
    baseline = _count(client, url)
    past = list(Session.objects.filter(group=group, ends_at__lt=timezone.now()))
    for _ in range(4):
        extra = patient_in(program)
        services.membership_add(
            group=group, patient=extra, by=clinician, from_date=group.start_date
        )
        for s in past[:4]:
            Attendance.objects.create(session=s, patient=extra, status="present", minutes=60)
    with django_assert_num_queries(baseline):
        assert client.get(url).status_code == 200


def test_hours_only_my_patients(client, login, program, clinician, patient, group):
    other = patient_in(program, full_name="Nadia Notmine")
    login(client, clinician)
    page = client.get(
        reverse("scheduling:program_hours", args=[program.pk]), {"mine": "1"}
    ).content.decode()
    assert patient.full_name in page and other.full_name not in page


@pytest.mark.parametrize(
    ("minutes", "left", "days_left", "badge"),
    [
        (540, 0, 3, "Minimum met"),
        (0, 540, 7, "On track"),  # Monday morning, the week's groups still to come
        (120, 180, 2, "Behind: the sessions still to come"),  # the rest cannot make it up
        (120, 600, 0, "Behind: the sessions still to come"),  # the week is over
    ],
)
def test_the_hours_badge_flags_a_week_only_when_the_minimum_can_no_longer_be_met(
    minutes, left, days_left, badge
):
    from django.template.loader import render_to_string

    from apps.scheduling.selectors import WeeklyHours

    hours = WeeklyHours(
        patient=None,  # type: ignore[arg-type]
        minutes=minutes,
        days=3,
        floor_minutes=540,
        min_days=3,
        scheduled_minutes_left=left,
        days_left=days_left,
    )
    html = render_to_string("scheduling/partials/hours.html", {"hours": hours})
    assert badge in html
    for other in {"Minimum met", "On track", "Behind: the sessions still to come"} - {badge}:
        assert other not in html


def test_group_list_shows_the_days_in_words_not_the_recurrence_rule(
    client, login, clinician, group
):
    group.rrule = "FREQ=WEEKLY;BYDAY=MO,TU,TH"
    group.save(update_fields=["rrule"])
    login(client, clinician)
    for url in (
        reverse("scheduling:group_list"),
        reverse("scheduling:group_detail", args=[group.pk]),
    ):
        page = client.get(url).content.decode()
        assert "FREQ=" not in page, url
        assert "Mondays, Tuesdays and Thursdays" in page, url


def test_whats_next_includes_a_booked_appointment_before_the_next_group(
    client, login, program, patient, clinician
):
    """A patient with no groups yet, and an individual session tomorrow: My week and the
    dashboard both name it."""
    from apps.scheduling.models import Appointment

    soon = timezone.now() + dt.timedelta(hours=20)
    Appointment.objects.create(
        program=program,
        patient=patient,
        clinician=clinician,
        kind="individual",
        status="booked",
        starts_at=soon,
        ends_at=soon + dt.timedelta(minutes=50),
    )
    login(client, patient)
    week = client.get(reverse("scheduling:my_week")).content.decode()
    assert "Nothing else scheduled" not in week
    assert "Individual therapy" in week and "with Carla" in week
    dashboard = client.get(reverse("home")).content.decode()
    assert "Individual therapy" in dashboard and "with Carla" in dashboard


def test_the_hours_report_lists_only_patients_in_treatment(client, login, clinician, program):
    """Applicants, waitlisted, referred, withdrawn and discharged people were listed as
    below the minimum (issue 29, item 9)."""
    from tests.enrollment.factories import application_in

    people = {}
    for status in ("admitted", "started", "waitlisted", "referred", "withdrawn", "discharged"):
        person = patient_in(program, full_name=f"Person {status.title()}")
        application_in(person, program, status=status)
        people[status] = person
    never_applied = patient_in(program, full_name="Person Before Enrollment")
    login(client, clinician)
    page = client.get(reverse("scheduling:program_hours", args=[program.pk])).content.decode()
    csv_text = client.get(
        reverse("scheduling:program_hours_csv", args=[program.pk])
    ).content.decode()
    for text in (page, csv_text):
        assert people["admitted"].full_name in text
        assert never_applied.full_name in text
        for status in ("started", "waitlisted", "referred", "withdrawn", "discharged"):
            assert people[status].full_name not in text, status
