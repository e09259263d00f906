from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.casemanagement import services
from apps.casemanagement.models import (
    CaseManagerAssignment,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Task,
)

S = ReferralStatus
pytestmark = pytest.mark.django_db


def _step(referral, by, to, **kw):
    current = Referral.objects.get(pk=referral.pk).status
    return services.referral_transition(
        referral_id=referral.pk, by=by, to_status=to, expected_status=current, **kw
    )


def test_referral_walks_the_whole_path_dated_and_attributed(referral, clinician, case_manager):
    when = timezone.now() + dt.timedelta(days=3)
    _step(referral, clinician, S.SENT)
    _step(referral, case_manager, S.ACCEPTED, note="Intake call done")
    _step(referral, case_manager, S.APPOINTMENT_MADE, appointment_at=when)
    _step(referral, clinician, S.COMPLETED)
    referral.refresh_from_db()
    assert referral.status == S.COMPLETED
    assert referral.appointment_at == when
    events = list(referral.events.values_list("from_status", "to_status", "by__email"))
    assert events == [
        ("", S.PROPOSED, clinician.email),
        (S.PROPOSED, S.SENT, clinician.email),
        (S.SENT, S.ACCEPTED, case_manager.email),
        (S.ACCEPTED, S.APPOINTMENT_MADE, case_manager.email),
        (S.APPOINTMENT_MADE, S.COMPLETED, clinician.email),
    ]
    assert all(e.occurred_on == timezone.localdate() for e in referral.events.all())


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], S.ACCEPTED),
        ([], S.COMPLETED),
        ([], S.APPOINTMENT_MADE),
        ([S.SENT], S.COMPLETED),
        ([S.SENT], S.PROPOSED),
        ([S.SENT, S.ACCEPTED], S.SENT),
        ([S.DECLINED], S.SENT),
        ([S.SENT, S.ACCEPTED, S.APPOINTMENT_MADE, S.COMPLETED], S.DECLINED),
        ([], "bogus"),
    ],
)
def test_a_step_off_the_path_is_refused_with_a_clear_message(referral, clinician, path, refused):
    for step in path:
        _step(
            referral,
            clinician,
            step,
            appointment_at=timezone.now() if step == S.APPOINTMENT_MADE else None,
        )
    before = ReferralEvent.objects.count()
    with pytest.raises(services.TransitionRefused) as exc:
        _step(referral, clinician, refused)
    assert "cannot" in str(exc.value)
    assert ReferralEvent.objects.count() == before


def test_declined_is_possible_from_every_open_step(referral, clinician):
    _step(referral, clinician, S.SENT)
    _step(referral, clinician, S.DECLINED)
    referral.refresh_from_db()
    assert referral.status == S.DECLINED and not referral.is_open


def test_double_submit_of_a_step_is_refused_and_recorded_once(referral, clinician):
    kwargs = {"referral_id": referral.pk, "by": clinician, "to_status": S.SENT}
    services.referral_transition(expected_status=S.PROPOSED, **kwargs)
    with pytest.raises(services.TransitionRefused, match="already"):
        services.referral_transition(expected_status=S.PROPOSED, **kwargs)
    assert referral.events.filter(to_status=S.SENT).count() == 1


def test_appointment_made_needs_an_appointment(referral, clinician):
    _step(referral, clinician, S.SENT)
    _step(referral, clinician, S.ACCEPTED)
    with pytest.raises(ValidationError):
        _step(referral, clinician, S.APPOINTMENT_MADE)
    assert Referral.objects.get(pk=referral.pk).status == S.ACCEPTED


def test_a_step_dated_in_the_future_or_before_the_last_is_refused(referral, clinician):
    with pytest.raises(ValidationError):
        _step(referral, clinician, S.SENT, occurred_on=timezone.localdate() + dt.timedelta(1))
    with pytest.raises(ValidationError):
        _step(referral, clinician, S.SENT, occurred_on=timezone.localdate() - dt.timedelta(1))
    assert Referral.objects.get(pk=referral.pk).status == S.PROPOSED


def test_referral_needs_a_target_and_the_patients_own_program(patient, clinician, other_resource):
    with pytest.raises(ValidationError):
        services.referral_create(patient=patient, by=clinician, kind="legal")
    with pytest.raises(ValidationError):
        services.referral_create(patient=patient, by=clinician, resource=other_resource)
    with pytest.raises(ValidationError):
        services.referral_create(patient=patient, by=clinician, provider_name="Dr. X")  # no kind
    named = services.referral_create(
        patient=patient, by=clinician, provider_name="Dr. Jane Roe", kind="psychiatrist"
    )
    assert named.target_name == "Dr. Jane Roe"
    assert Referral.objects.count() == 1


def test_the_database_refuses_a_referral_without_target(patient, clinician):
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(patient=patient, kind="food", created_by=clinician)


@pytest.mark.parametrize("who", ["other_clinician", "other_case_manager", "outsider", "admin"])
def test_services_refuse_people_without_access(request, patient, therapist, referral, need, who):
    actor = request.getfixturevalue(who)
    with pytest.raises(services.AccessRefused):
        services.referral_create(patient=patient, by=actor, resource=therapist)
    with pytest.raises(services.AccessRefused):
        services.referral_transition(
            referral_id=referral.pk, by=actor, to_status=S.SENT, expected_status=S.PROPOSED
        )
    with pytest.raises(services.AccessRefused):
        services.need_create(patient=patient, by=actor, domain="legal", description="x")
    with pytest.raises(services.AccessRefused):
        services.task_create(need=need, by=actor, title="x", assignee=patient)


def test_assigned_case_manager_outside_the_program_may_work_the_case(
    patient, case_manager, therapist
):
    referral = services.referral_create(patient=patient, by=case_manager, resource=therapist)
    need = services.need_create(
        patient=patient, by=case_manager, domain="employment", description="Work"
    )
    task = services.task_create(need=need, by=case_manager, title="Call", assignee=case_manager)
    assert referral.created_by == case_manager and task.assignee == case_manager


def test_reassigning_ends_the_current_case_manager(patient, case_manager, clinician):
    services.case_manager_assign(patient=patient, case_manager=clinician, by=None)
    current = CaseManagerAssignment.objects.get(patient=patient, ended_at=None)
    assert current.case_manager == clinician
    assert CaseManagerAssignment.objects.filter(patient=patient).count() == 2
    # the previous case manager, outside the program, has lost access
    with pytest.raises(services.AccessRefused):
        services.need_create(patient=patient, by=case_manager, domain="legal", description="x")


def test_a_task_goes_only_to_the_patient_or_a_case_manager(need, clinician, other_clinician):
    with pytest.raises(ValidationError):
        services.task_create(need=need, by=clinician, title="x", assignee=other_clinician)
    with pytest.raises(ValidationError):
        services.task_create(need=need, by=clinician, title="  ", assignee=clinician)


def test_patient_ticks_own_task_once_and_not_others(
    patient_task, patient, outsider, need, clinician
):
    staff_task = services.task_create(need=need, by=clinician, title="Call", assignee=clinician)
    services.task_done_set(task_id=patient_task.pk, by=patient, done=True)
    first = Task.objects.get(pk=patient_task.pk).done_at
    services.task_done_set(task_id=patient_task.pk, by=patient, done=True)  # double submit
    assert Task.objects.get(pk=patient_task.pk).done_at == first
    assert AuditEvent.objects.filter(object_type="casemanagement.task", detail="done").count() == 1
    with pytest.raises(services.AccessRefused):
        services.task_done_set(task_id=staff_task.pk, by=patient, done=True)
    with pytest.raises(services.AccessRefused):
        services.task_done_set(task_id=patient_task.pk, by=outsider, done=False)


def test_every_write_is_audited_without_clinical_text(patient, clinician, therapist):
    referral = services.referral_create(
        patient=patient, by=clinician, resource=therapist, reason="Private reason text"
    )
    _step(referral, clinician, S.SENT)
    need = services.need_create(
        patient=patient, by=clinician, domain="legal", description="Secret legal matter"
    )
    services.task_create(need=need, by=clinician, title="Private task", assignee=patient)
    services.need_status_set(need=need, by=clinician, status="in_progress")
    events = AuditEvent.objects.filter(patient=patient)
    assert set(events.values_list("object_type", "action")) >= {
        ("casemanagement.referral", "create"),
        ("casemanagement.referral", "transition"),
        ("casemanagement.need", "create"),
        ("casemanagement.need", "transition"),
        ("casemanagement.task", "create"),
    }
    details = " ".join(events.values_list("detail", flat=True))
    assert "Private" not in details and "Secret" not in details


def test_resource_clean_keeps_one_spelling_per_area(therapist):
    therapist.areas_served = "Oakland,  Berkeley , Oakland,,"
    therapist.clean()
    assert therapist.areas_served == "Oakland, Berkeley"
