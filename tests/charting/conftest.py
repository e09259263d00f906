"""Charting fixtures: loaded templates, a visit held yesterday, a group session held with
three members (one absent), a supervisor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.charting.loader import load_note_templates
from apps.charting.models import Supervision
from apps.scheduling.models import Appointment, Attendance, AttendanceSource, Session
from apps.scheduling.services import sessions_generate
from tests.factories import PASSWORD, clinician_in, patient_in
from tests.scheduling.factories import make_group


@pytest.fixture
def templates(db):
    load_note_templates()


@pytest.fixture
def visit(program, clinician, patient, templates):
    ended = timezone.now() - dt.timedelta(hours=20)
    return Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=ended - dt.timedelta(minutes=53),
        ends_at=ended,
        status="completed",
    )


@pytest.fixture
def member2(program):
    return patient_in(program, email="robin@example.test", full_name="Robin Second")


@pytest.fixture
def member3(program):
    return patient_in(program, email="sam@example.test", full_name="Sam Third")


@pytest.fixture
def absent(program):
    return patient_in(program, email="abe@example.test", full_name="Abe Absent")


@pytest.fixture
def held_session(program, clinician, patient, member2, member3, absent, templates):
    group = make_group(program, [clinician], days=(0, 1, 2, 3, 4, 5, 6))
    now = timezone.now()
    sessions_generate(group=group, since=now.date() - dt.timedelta(days=3))
    session = (
        Session.objects.filter(group=group, ends_at__lt=now - dt.timedelta(hours=3))
        .order_by("-starts_at")
        .first()
    )
    for who, status, minutes in [
        (patient, "present", 180),
        (member2, "late", 160),
        (member3, "left_early", 150),
        (absent, "absent", 0),
    ]:
        Attendance.objects.create(
            session=session,
            patient=who,
            status=status,
            minutes=minutes,
            source=AttendanceSource.CONFIRMED,
            location="home",
        )
    return session


@pytest.fixture
def supervisor(program):
    return clinician_in(program, email="sue@example.test", full_name="Sue Supervisor")


@pytest.fixture
def supervised(program, clinician, supervisor):
    Supervision.objects.create(program=program, clinician=clinician, supervisor=supervisor)
    return supervisor


def sign_data(user, secret: str = PASSWORD) -> dict[str, str]:
    return {"typed_name": user.full_name, "secret": secret}
