"""The contract other apps build on: participant access and presence recording."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.scheduling import selectors, services
from apps.scheduling.models import Attendance, AttendanceStatus, Session
from tests.factories import clinician_in, patient_in
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(program, clinician):
    return make_group(program, [clinician], days=range(7))


@pytest.fixture
def live_session(group):
    now = timezone.now()
    session = Session.objects.filter(group=group).order_by("starts_at").last()
    session.starts_at = now - dt.timedelta(minutes=5)
    session.ends_at = now + dt.timedelta(hours=2)
    session.occurrence_date = timezone.localdate(now, group.program.time_zone)
    Session.objects.filter(group=group, occurrence_date=session.occurrence_date).exclude(
        pk=session.pk
    ).delete()
    session.save()
    return session


def test_member_patient_is_participant(group, live_session, patient, clinician):
    services.membership_add(group=group, patient=patient, by=clinician)
    assert (
        selectors.session_get_for_participant(user=patient, session_id=live_session.pk)
        == live_session
    )
    assert live_session in selectors.sessions_for_patient(patient=patient)


def test_non_member_patient_is_not_participant(group, live_session, patient):
    assert selectors.session_get_for_participant(user=patient, session_id=live_session.pk) is None


def test_outsider_and_other_clinician_refused(group, live_session, outsider, other_clinician):
    for user in (outsider, other_clinician):
        assert selectors.session_get_for_participant(user=user, session_id=live_session.pk) is None


def test_program_clinician_and_facilitator_are_participants(
    group, live_session, clinician, program
):
    colleague = clinician_in(program, email="colleague@example.test")
    assert selectors.session_get_for_participant(user=clinician, session_id=live_session.pk)
    assert selectors.session_get_for_participant(user=colleague, session_id=live_session.pk)


def test_garbage_session_id_is_none(clinician):
    assert selectors.session_get_for_participant(user=clinician, session_id="x1") is None


def test_waitlisted_patient_is_not_participant(program, clinician, patient):
    group = make_group(program, [clinician], days=range(7), capacity=1, name="Tiny")
    other = patient_in(program)
    services.membership_add(group=group, patient=other, by=clinician)
    services.membership_add(group=group, patient=patient, by=clinician, waitlist_if_full=True)
    session = Session.objects.filter(group=group).first()
    assert selectors.session_get_for_participant(user=patient, session_id=session.pk) is None


def test_presence_records_minutes_and_late(group, live_session, patient, clinician):
    services.membership_add(group=group, patient=patient, by=clinician)
    start = live_session.starts_at
    att = services.attendance_record_presence(
        session=live_session,
        patient=patient,
        joined_at=start + dt.timedelta(minutes=20),
        left_at=start + dt.timedelta(minutes=80),
        now=start + dt.timedelta(minutes=81),
    )
    assert att.minutes == 60
    assert att.status == AttendanceStatus.LATE
    # Same interval reported again with a later leave: updated, not doubled.
    att = services.attendance_record_presence(
        session=live_session,
        patient=patient,
        joined_at=start + dt.timedelta(minutes=20),
        left_at=start + dt.timedelta(minutes=90),
        now=start + dt.timedelta(minutes=91),
    )
    assert att.minutes == 70
    assert Attendance.objects.count() == 1


def test_presence_of_non_member_is_ignored(group, live_session, clinician):
    assert (
        services.attendance_record_presence(
            session=live_session, patient=clinician, joined_at=live_session.starts_at
        )
        is None
    )
    assert not Attendance.objects.exists()
