"""The intake is a real appointment: booked in the clinician's open hours, shown to the
applicant with its join link, reminded like any visit; admission waits until it is held."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.enrollment import services
from apps.enrollment.models import Status
from apps.notifications.models import Outbox
from apps.scheduling.models import Appointment
from apps.scheduling.services import calendar_feed_rotate
from tests.enrollment.factories import (
    hold_intake,
    intake_time,
    open_all_week,
    schedule_intake,
    walk_to_submitted,
)
from tests.factories import clinician_in

pytestmark = pytest.mark.django_db


def test_scheduling_the_intake_books_a_visit_and_tells_the_applicant(applicant, program, clinician):
    app = schedule_intake(walk_to_submitted(applicant, program), clinician)
    [visit] = Appointment.objects.filter(patient=applicant)
    assert (visit.kind, visit.status, visit.clinician, visit.program) == (
        "intake",
        "booked",
        clinician,
        program,
    )
    assert visit.starts_at == app.intake_at and visit.duration_minutes == 60
    notices = Outbox.objects.filter(recipient=applicant, kind="intake_scheduled")
    assert notices.exists() and all(n.payload["appointment_id"] == visit.pk for n in notices)


def test_an_intake_outside_open_hours_is_refused_and_changes_nothing(applicant, program, clinician):
    app = walk_to_submitted(applicant, program)  # the clinician has no open hours at all
    with pytest.raises(ValidationError):
        services.application_schedule_intake(application=app, by=clinician, intake_at=intake_time())
    app.refresh_from_db()
    assert app.status == Status.SUBMITTED and app.intake_at is None
    assert not Appointment.objects.filter(patient=applicant).exists()
    assert not Outbox.objects.filter(recipient=applicant).exists()


def test_rescheduling_moves_the_visit_and_another_clinician_takes_a_new_one(
    applicant, program, clinician
):
    app = schedule_intake(walk_to_submitted(applicant, program), clinician)
    first = Appointment.objects.get(patient=applicant)
    later = intake_time() + dt.timedelta(hours=3)
    services.application_schedule_intake(
        application=app, by=clinician, intake_at=later, clinician=clinician
    )
    first.refresh_from_db()
    assert first.starts_at == later and Appointment.objects.filter(patient=applicant).count() == 1
    colleague = clinician_in(program, email="colleague@example.test")
    open_all_week(colleague)
    services.application_schedule_intake(
        application=app, by=clinician, intake_at=later, clinician=colleague
    )
    first.refresh_from_db()
    assert first.status == "cancelled"
    assert Appointment.objects.get(patient=applicant, status="booked").clinician == colleague


def test_admission_waits_until_the_intake_is_held(applicant, program, clinician):
    app = schedule_intake(walk_to_submitted(applicant, program), clinician)
    with pytest.raises(ValidationError, match="Hold the intake first"):
        services.application_admit(
            application=app,
            by=clinician,
            start_date=timezone.localdate(),
            primary_clinician=clinician,
        )
    app.refresh_from_db()
    assert app.status == Status.INTAKE_SCHEDULED
    hold_intake(app)
    services.application_admit(
        application=app, by=clinician, start_date=timezone.localdate(), primary_clinician=clinician
    )
    app.refresh_from_db()
    assert app.status == Status.ADMITTED
    assert Outbox.objects.filter(recipient=applicant, kind="admitted").exists()


def test_a_missed_intake_does_not_open_admission(applicant, program, clinician):
    app = schedule_intake(walk_to_submitted(applicant, program), clinician)
    hold_intake(app)
    Appointment.objects.filter(patient=applicant).update(status="no_show")
    with pytest.raises(ValidationError):
        services.application_admit(
            application=app,
            by=clinician,
            start_date=timezone.localdate(),
            primary_clinician=clinician,
        )


def test_the_applicant_sees_the_intake_in_their_application_week_and_calendar(
    client, login, applicant, program, clinician
):
    schedule_intake(walk_to_submitted(applicant, program), clinician)
    login(client, applicant)
    page = client.get(reverse("enrollment:my_application")).content.decode()
    assert clinician.full_name in page and "by video" in page
    assert "Intake" in client.get(reverse("scheduling:my_week")).content.decode()
    feed = calendar_feed_rotate(user=applicant)
    ics = client.get(reverse("scheduling:feed", args=[feed.token])).content.decode()
    assert "BEGIN:VEVENT" in ics


def test_staff_pick_the_intake_clinician_and_see_a_clear_error(
    client, login, applicant, program, clinician
):
    app = walk_to_submitted(applicant, program)
    login(client, clinician)
    url = reverse("enrollment:application_decide", args=[app.pk, "schedule"])
    when = intake_time().astimezone(timezone.get_current_timezone()).strftime("%Y-%m-%dT%H:%M")
    response = client.post(url, {"intake_at": when, "clinician": clinician.pk})
    assert response.status_code == 400 and "open hours" in response.content.decode()
    open_all_week(clinician)
    response = client.post(url, {"intake_at": when, "clinician": clinician.pk})
    assert response.status_code == 302
    assert Appointment.objects.filter(patient=applicant, kind="intake").count() == 1
    detail = client.get(reverse("enrollment:application_detail", args=[app.pk])).content.decode()
    assert "Intake booked" in detail and "Admission opens once the intake has been held" in detail
