"""Enrollment calling the other apps: notifications for safety flags, scheduling groups on
admission and discharge."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.enrollment import services
from apps.measures.models import SafetyFlag
from apps.measures.services import safety_flag_acknowledge
from apps.notifications.models import Kind, Outbox
from apps.notifications.models import Status as OutboxStatus
from apps.scheduling.models import Group, GroupMembership, MembershipStatus
from tests.enrollment.factories import (
    PHQ9_FLAGGED,
    hold_intake,
    schedule_intake,
    walk_to_admitted,
    walk_to_submitted,
)
from tests.factories import clinician_in

pytestmark = pytest.mark.django_db


def test_a_flag_alerts_every_clinician_of_the_program_in_the_same_transaction(
    applicant, program, clinician, other_clinician
):
    second = clinician_in(program, email="second@example.test")
    walk_to_submitted(applicant, program, phq9=PHQ9_FLAGGED)
    flag = SafetyFlag.objects.get(patient=applicant)
    alerts = Outbox.objects.filter(
        event_key=f"measures.safetyflag:{flag.pk}", kind=Kind.SAFETY_ALERT
    )
    assert {row.recipient_id for row in alerts} == {clinician.pk, second.pk}
    assert "Andy" not in str(alerts[0].payload) and "q9" not in str(alerts[0].payload)


def test_acknowledging_stops_the_on_call_escalation(applicant, program, clinician):
    staff = clinician.program_staff.get(program=program)
    staff.on_call = True
    staff.save()
    walk_to_submitted(applicant, program, phq9=PHQ9_FLAGGED)
    flag = SafetyFlag.objects.get(patient=applicant)
    escalations = Outbox.objects.filter(
        event_key=f"measures.safetyflag:{flag.pk}", kind=Kind.SAFETY_ESCALATION
    )  # one per channel
    assert escalations and {e.status for e in escalations} == {OutboxStatus.PENDING}
    safety_flag_acknowledge(flag=flag, by=clinician, note="Called; safe; plan made.")
    assert {e.status for e in escalations.all()} == {OutboxStatus.CANCELLED}


def make_group(program, name="Evening skills", capacity=12):
    return Group.objects.create(
        program=program,
        name=name,
        kind="skills",
        track="evening",
        rrule="FREQ=WEEKLY;BYDAY=MO,WE,TH",
        start_time=dt.time(18, 0),
        start_date=timezone.localdate() - dt.timedelta(days=30),
        capacity=capacity,
    )


def admit_with_groups(app, clinician, groups):
    hold_intake(schedule_intake(app, clinician))
    return services.application_admit(
        application=app,
        by=clinician,
        # The program's today (a start date is a date in the program's zone): UTC's today is
        # tomorrow there in the evening, and a seat from tomorrow ended today is deleted.
        start_date=timezone.localdate(timezone=app.program.time_zone),
        primary_clinician=clinician,
        groups=groups,
    )


def test_admission_joins_the_chosen_groups_and_discharge_ends_them(applicant, program, clinician):
    group = make_group(program)
    app = walk_to_submitted(applicant, program)
    admit_with_groups(app, clinician, [group])
    membership = GroupMembership.objects.get(patient=applicant, group=group)
    assert membership.status == MembershipStatus.ACTIVE
    services.application_discharge(application=app, by=clinician, data={"reason": "completed"})
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ENDED


def test_a_full_group_refuses_the_whole_admission(applicant, program, clinician, patient):
    from apps.scheduling.services import membership_add

    group = make_group(program, capacity=1)
    membership_add(group=group, patient=patient, by=clinician)
    app = walk_to_submitted(applicant, program)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        admit_with_groups(app, clinician, [group])
    app.refresh_from_db()
    assert app.status == "intake_scheduled"
    assert not GroupMembership.objects.filter(patient=applicant).exists()


def test_discharge_without_groups_is_fine(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    services.application_discharge(application=app, by=clinician, data={"reason": "withdrew"})
    app.refresh_from_db()
    assert app.status == "discharged"
