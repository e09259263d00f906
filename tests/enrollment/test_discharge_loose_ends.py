"""After discharge (or withdrawal) nothing keeps running for the patient: future appointments
are cancelled with notice, prompts stop, and no new appointment can be booked."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.enrollment import services
from apps.enrollment.panels import patient_status_panel
from apps.notifications.models import Kind, NotificationSettings, Outbox
from apps.progress.reminders import checkin_guard, plan_checkin_nudges
from apps.scheduling import services as scheduling
from apps.scheduling.models import Appointment, AppointmentStatus
from tests.enrollment.factories import walk_to_admitted, walk_to_submitted

pytestmark = pytest.mark.django_db


def appointment(patient, clinician, program, *, hours: float, status="booked", kind="individual"):
    starts = timezone.now() + dt.timedelta(hours=hours)
    return Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind=kind,
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=50),
        status=status,
    )


def discharge(app, clinician):
    return services.application_discharge(
        application=app, by=clinician, data={"reason": "completed"}
    )


def test_discharge_cancels_future_appointments_and_tells_the_patient(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    past = appointment(applicant, clinician, program, hours=-30, status="completed")
    booked = appointment(applicant, clinician, program, hours=30)
    requested = appointment(applicant, clinician, program, hours=50, status="requested")
    discharge(app, clinician)
    for appt in (booked, requested):
        appt.refresh_from_db()
        assert appt.status == AppointmentStatus.CANCELLED
        assert appt.cancel_reason == "Discharged from the program"
        assert Outbox.objects.filter(
            recipient=applicant,
            kind=Kind.SESSION_CANCELLED,
            event_key=f"scheduling.appointment:{appt.pk}/cancelled",
        ).exists()
    past.refresh_from_db()
    assert past.status == AppointmentStatus.COMPLETED


def test_withdrawing_cancels_a_booked_intake(applicant, program, clinician):
    app = walk_to_submitted(applicant, program)
    intake = appointment(applicant, clinician, program, hours=20, kind="intake")
    services.application_withdraw(application=app, by=applicant)
    intake.refresh_from_db()
    assert intake.status == AppointmentStatus.CANCELLED


def test_check_in_nudges_stop_after_discharge(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    now = timezone.now().replace(second=0, microsecond=0)
    local = now.astimezone(applicant.time_zone)
    NotificationSettings.objects.create(
        user=applicant,
        checkin_time=(local + dt.timedelta(minutes=10)).time(),
        quiet_start=None,
        quiet_end=None,
    )
    plan_checkin_nudges(now=now)
    pending = Outbox.objects.filter(recipient=applicant, kind=Kind.CHECKIN_NUDGE).first()
    assert pending is not None
    assert checkin_guard(pending) is None
    discharge(app, clinician)
    assert checkin_guard(pending) == "not in treatment"
    Outbox.objects.all().delete()
    plan_checkin_nudges(now=now)
    assert not Outbox.objects.filter(recipient=applicant, kind=Kind.CHECKIN_NUDGE).exists()


def test_no_consent_prompt_after_discharge(applicant, program, clinician, rf):
    app = walk_to_admitted(applicant, program, clinician)
    discharge(app, clinician)
    request = rf.get("/")
    request.user = applicant
    _template, context = patient_status_panel(request)
    assert context["outstanding"] == []


def test_no_new_appointment_for_a_discharged_patient_but_an_intake(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    scheduling.availability_set(
        clinician=clinician,
        by=clinician,
        windows=[(d, dt.time(0, 0), dt.time(23, 59)) for d in range(7)],
    )
    discharge(app, clinician)
    starts = (timezone.now() + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    with pytest.raises(scheduling.SchedulingError, match="not in treatment"):
        scheduling.appointment_book(
            clinician=clinician,
            patient=applicant,
            kind="individual",
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=50),
            by=clinician,
        )
    intake = scheduling.appointment_book(
        clinician=clinician,
        patient=applicant,
        kind="intake",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=50),
        by=clinician,
    )
    assert intake.status == AppointmentStatus.BOOKED
