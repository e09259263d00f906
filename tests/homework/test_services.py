"""Assigning, autosaving, submitting and reviewing homework through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.homework import services
from apps.homework.answers import DictData
from apps.homework.models import Assignment, AssignmentStatus, Feedback, Response
from apps.homework.selectors import group_active_members
from apps.notifications.models import Outbox
from apps.scheduling.models import GroupMembership
from tests.factories import patient_in
from tests.homework.factories import (
    assign,
    complete_urge_surfing,
    entry,
    make_group,
    make_session,
)

pytestmark = pytest.mark.django_db


def test_clinician_assigns_module_and_patient_is_notified(modules, clinician, patient):
    due = timezone.localdate() + dt.timedelta(days=5)
    assignment = assign(clinician, patient, modules["urge-surfing"], due_date=due, note="Try it")
    assert assignment.status == AssignmentStatus.ASSIGNED
    assert assignment.module_version == modules["urge-surfing"].current_version
    kinds = set(Outbox.objects.filter(recipient=patient).values_list("kind", flat=True))
    assert {"homework_assigned", "homework_due"} <= kinds
    payloads = Outbox.objects.filter(recipient=patient).values_list("payload", flat=True)
    assert all("Try it" not in str(p) for p in payloads)  # no clinical text in notices
    assert AuditEvent.objects.filter(action="create", patient=patient).exists()


def test_assigning_twice_keeps_one_open_copy(modules, clinician, patient):
    first = assign(clinician, patient, modules["urge-surfing"])
    again, created = services.assignment_create(
        clinician=clinician, patient=patient, module=modules["urge-surfing"], note="updated"
    )
    assert not created and again.pk == first.pk
    assert Assignment.objects.filter(patient=patient).count() == 1
    assert Assignment.objects.get().note == "updated"


def test_other_program_clinician_cannot_assign(modules, other_clinician, patient):
    with pytest.raises(services.NotAllowed):
        assign(other_clinician, patient, modules["urge-surfing"])
    assert not Assignment.objects.exists()


def test_group_assignment_reaches_active_members_only(modules, program, clinician, patient):
    other = patient_in(program, email="member2@example.test")
    waiting = patient_in(program, email="waiting@example.test")
    left = patient_in(program, email="left@example.test")
    group = make_group(program, members=[patient, other])
    GroupMembership.objects.create(
        group=group, patient=waiting, from_date=group.start_date, status="waitlisted",
        waitlist_position=1,
    )  # fmt: skip
    GroupMembership.objects.create(
        group=group, patient=left, from_date=group.start_date, status="ended",
        to_date=group.start_date,
    )  # fmt: skip
    session = make_session(group)
    result = services.assignment_create_for_group(
        clinician=clinician, group=group, module=modules["urge-surfing"], session=session
    )
    assert {a.patient for a in result.created} == {patient, other}
    assert all(a.group == group and a.session == session for a in result.created)
    again = services.assignment_create_for_group(
        clinician=clinician, group=group, module=modules["urge-surfing"]
    )
    assert again.created == [] and len(again.updated) == 2
    assert Assignment.objects.count() == 2


def test_group_assignment_refused_for_other_programs_group(
    modules, other_program, other_clinician, clinician
):
    group = make_group(other_program)
    with pytest.raises(services.NotAllowed):
        services.assignment_create_for_group(
            clinician=clinician, group=group, module=modules["urge-surfing"]
        )


def test_group_members_exclude_future_and_ended_seats(program, patient):
    group = make_group(program, members=[patient])
    future = patient_in(program, email="future@example.test")
    GroupMembership.objects.create(
        group=group, patient=future, from_date=timezone.localdate() + dt.timedelta(days=3)
    )
    assert group_active_members(group=group) == [patient]


def test_autosave_is_idempotent_and_starts_the_assignment(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    for _ in range(2):
        services.response_save(
            assignment=a, user=patient, step_id="check", data=DictData({"choice": "passes"})
        )
    a.refresh_from_db()
    assert a.status == AssignmentStatus.IN_PROGRESS and a.started_at is not None
    response = Response.objects.get()
    assert response.value == {"choices": ["passes"]} and response.complete


def test_stale_autosave_does_not_overwrite_newer_answer(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    save = services.response_save
    save(assignment=a, user=patient, step_id="reflection", data=DictData({"text": "new"}), seq=20)
    result = save(
        assignment=a, user=patient, step_id="reflection", data=DictData({"text": "old"}), seq=10
    )
    assert not result.applied
    assert Response.objects.get().value == {"text": "new"}


def test_wrong_step_id_and_wrong_type_change_nothing(modules, clinician, patient):
    a = assign(clinician, patient, modules["check-the-facts"])
    with pytest.raises(services.StepNotFound):
        services.response_save(assignment=a, user=patient, step_id="nope", data=DictData({}))
    with pytest.raises(services.InvalidAnswer):
        services.response_save(
            assignment=a, user=patient, step_id="before", data=DictData({"value": "12"})
        )
    assert not Response.objects.exists()
    a.refresh_from_db()
    assert a.status == AssignmentStatus.ASSIGNED


def test_only_the_patient_can_answer(modules, clinician, patient, outsider):
    a = assign(clinician, patient, modules["urge-surfing"])
    for intruder in (outsider, clinician):
        with pytest.raises(services.NotAllowed):
            services.response_save(
                assignment=a, user=intruder, step_id="check", data=DictData({"choice": "passes"})
            )


def test_double_submitted_log_entry_is_stored_once(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    data = entry(craving_before=7, minutes=10, craving_after=3)
    _r, added = services.log_entry_add(assignment=a, user=patient, step_id="surf-log", data=data)
    _r, added_again = services.log_entry_add(
        assignment=a, user=patient, step_id="surf-log", data=data
    )
    assert added and not added_again
    assert len(Response.objects.get().value["entries"]) == 1


def test_log_entry_delete(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    data = entry(craving_before=7, minutes=10, craving_after=3)
    services.log_entry_add(assignment=a, user=patient, step_id="surf-log", data=data)
    services.log_entry_delete(
        assignment=a, user=patient, step_id="surf-log", entry_id=data.get("entry_id")
    )
    assert Response.objects.get().value == {"entries": []}


def test_submit_requires_every_required_step(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    services.response_save(assignment=a, user=patient, step_id="waves", data=DictData({"read": 1}))
    with pytest.raises(services.InvalidAnswer, match="Quick check"):
        services.assignment_submit(assignment=a, user=patient)
    a.refresh_from_db()
    assert a.status == AssignmentStatus.IN_PROGRESS


def test_submit_locks_answers_and_twice_is_harmless(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"], due_date=timezone.localdate())
    complete_urge_surfing(a, patient)
    assert services.assignment_submit(assignment=a, user=patient) is True
    assert services.assignment_submit(assignment=a, user=patient) is False
    a.refresh_from_db()
    assert a.status == AssignmentStatus.SUBMITTED
    before = list(Response.objects.values_list("step_id", "value"))
    with pytest.raises(services.AssignmentLocked):
        services.response_save(
            assignment=a, user=patient, step_id="reflection", data=DictData({"text": "changed"})
        )
    with pytest.raises(services.AssignmentLocked):
        services.log_entry_add(assignment=a, user=patient, step_id="surf-log", data=entry())
    assert list(Response.objects.values_list("step_id", "value")) == before


def test_feedback_marks_reviewed_and_notifies(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    with pytest.raises(services.AssignmentLocked):
        services.feedback_add(assignment=a, clinician=clinician, body="Too early")
    complete_urge_surfing(a, patient)
    services.assignment_submit(assignment=a, user=patient)
    services.feedback_add(assignment=a, clinician=clinician, body="Well done")
    a.refresh_from_db()
    assert a.status == AssignmentStatus.REVIEWED and a.reviewed_at is not None
    assert Outbox.objects.filter(recipient=patient, kind="homework_feedback").exists()
    assert "Well done" not in str(
        list(Outbox.objects.filter(kind="homework_feedback").values_list("payload", flat=True))
    )


def test_feedback_with_reopen_lets_the_patient_continue(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    complete_urge_surfing(a, patient)
    services.assignment_submit(assignment=a, user=patient)
    services.feedback_add(assignment=a, clinician=clinician, body="Add one more", reopen=True)
    a.refresh_from_db()
    assert a.status == AssignmentStatus.IN_PROGRESS and a.submitted_at is None
    services.log_entry_add(
        assignment=a, user=patient, step_id="surf-log",
        data=entry(craving_before=5, minutes=5, craving_after=2),
    )  # fmt: skip
    assert services.assignment_submit(assignment=a, user=patient)
    assert Feedback.objects.get().reopened


def test_other_clinician_cannot_review(modules, clinician, other_clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    complete_urge_surfing(a, patient)
    services.assignment_submit(assignment=a, user=patient)
    with pytest.raises(services.NotAllowed):
        services.feedback_add(assignment=a, clinician=other_clinician, body="x")
    with pytest.raises(services.NotAllowed):
        services.assignment_reopen(assignment=a, clinician=other_clinician)
    a.refresh_from_db()
    assert a.status == AssignmentStatus.SUBMITTED


def test_self_start_reuses_the_open_copy(modules, patient):
    first = services.assignment_self_start(patient=patient, module=modules["stress-diary"])
    second = services.assignment_self_start(patient=patient, module=modules["stress-diary"])
    assert first.pk == second.pk and first.is_self_started


def test_unpublished_module_cannot_be_self_started(modules, patient):
    module = modules["stress-diary"]
    module.is_published = False
    module.save(update_fields=["is_published"])
    with pytest.raises(services.NotAllowed):
        services.assignment_self_start(patient=patient, module=module)


def test_every_answer_write_is_audited(modules, clinician, patient):
    a = assign(clinician, patient, modules["urge-surfing"])
    services.response_save(assignment=a, user=patient, step_id="waves", data=DictData({"read": 1}))
    event = AuditEvent.objects.filter(actor=patient, action="update").get()
    assert event.patient == patient and event.object_type == "homework.response"
    assert event.detail == "homework answer step=waves"  # ids only, never answer text
