"""Groups get the clash checks appointments have: a facilitator cannot run two groups at
once, and a patient cannot be seated in two that overlap (nor beside an appointment)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.scheduling import services
from apps.scheduling.models import Appointment, Group, Session
from tests.factories import clinician_in
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db


def test_a_facilitator_cannot_run_two_overlapping_groups(program, clinician):
    make_group(program, [clinician], name="Evening Process", start_time=dt.time(18))
    with pytest.raises(services.SchedulingError, match="already runs a group"):
        make_group(program, [clinician], name="Evening Skills", start_time=dt.time(19))
    assert not Group.objects.filter(name="Evening Skills").exists()  # rolled back
    make_group(program, [clinician], name="Morning Skills", start_time=dt.time(9))  # fine


def test_moving_a_series_or_a_session_onto_another_group_is_refused(program, clinician):
    evening = make_group(program, [clinician], name="Evening Process", start_time=dt.time(18))
    morning = make_group(program, [clinician], name="Morning Skills", start_time=dt.time(9))
    moved = services.GroupSeries(
        name=morning.name,
        kind=morning.kind,
        track=morning.track,
        rrule=morning.rrule,
        start_time=dt.time(17),
        duration_minutes=morning.duration_minutes,
        start_date=morning.start_date,
        capacity=morning.capacity,
    )
    with pytest.raises(services.SchedulingError, match="already runs a group"):
        services.group_update_series(group=morning, by=clinician, series=moved)
    morning.refresh_from_db()
    assert morning.start_time == dt.time(9)
    session = Session.objects.filter(group=morning, starts_at__gt=timezone.now()).first()
    clash = Session.objects.filter(group=evening, occurrence_date=session.occurrence_date).first()
    with pytest.raises(services.SchedulingError, match="already runs a group"):
        services.session_update(session=session, by=clinician, starts_at=clash.starts_at)
    # Another facilitator covering is fine.
    cover = clinician_in(program, email="cover@example.test")
    services.session_update(
        session=session, by=clinician, starts_at=clash.starts_at, facilitator=cover
    )


def test_a_patient_cannot_be_seated_in_overlapping_groups_or_beside_an_appointment(
    program, clinician, patient
):
    other = clinician_in(program, email="other@example.test")
    first = make_group(program, [clinician], name="Evening Process", start_time=dt.time(18))
    overlapping = make_group(program, [other], name="Evening Skills", start_time=dt.time(19))
    services.membership_add(group=first, patient=patient, by=clinician)
    with pytest.raises(services.SchedulingError, match="already has a group or appointment"):
        services.membership_add(group=overlapping, patient=patient, by=clinician)
    morning = make_group(program, [other], name="Morning Skills", start_time=dt.time(9))
    session = Session.objects.filter(group=morning, starts_at__gt=timezone.now()).first()
    Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=session.starts_at,
        ends_at=session.starts_at + dt.timedelta(minutes=50),
    )
    with pytest.raises(services.SchedulingError, match="already has a group or appointment"):
        services.membership_add(group=morning, patient=patient, by=clinician)
