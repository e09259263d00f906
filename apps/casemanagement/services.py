"""Writes for case management. Each public service re-checks access with the selectors
(views have checked it too; the admin, demo and tests call these directly), validates, then
writes and audits in one transaction."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Role, User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.casemanagement import selectors
from apps.casemanagement.models import (
    REFERRAL_NEXT,
    CaseManagerAssignment,
    Need,
    NeedDomain,
    NeedStatus,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Resource,
    ResourceKind,
    Task,
)


class AccessRefused(Exception):
    """The actor may not touch this patient's case management (callers answer 404)."""


class TransitionRefused(Exception):
    """A referral step that the status path does not allow from where it is now."""


def _require_staff_access(*, by: User, patient: User) -> None:
    if not selectors.patients_for_case_management(user=by).filter(pk=patient.pk).exists():
        raise AccessRefused


def _check_day(day: dt.date, *, not_before: dt.date | None = None) -> None:
    today = timezone.localdate()
    if day > today:
        raise ValidationError({"occurred_on": _("This date is in the future.")})
    if not_before is not None and day < not_before:
        raise ValidationError(
            {"occurred_on": _("This date is before the referral's previous step.")}
        )


# --- case managers ------------------------------------------------------------------------
@transaction.atomic
def case_manager_assign(
    *, patient: User, case_manager: User, by: User | None
) -> CaseManagerAssignment:
    """Make ``case_manager`` the patient's current case manager (ending any other current
    assignment). Assigning the same person again changes nothing."""
    if case_manager.role != Role.CLINICIAN:
        raise ValidationError({"case_manager": _("A case manager is a clinician.")})
    if patient.role != Role.PATIENT:
        raise ValidationError({"patient": _("Choose a patient.")})
    current = (
        CaseManagerAssignment.objects.select_for_update()
        .filter(patient=patient, ended_at=None)
        .first()
    )
    if current is not None and current.case_manager_id == case_manager.pk:
        return current
    if current is not None:
        current.ended_at = timezone.now()
        current.save(update_fields=["ended_at"])
    assignment = CaseManagerAssignment.objects.create(
        patient=patient, case_manager=case_manager, assigned_by=by
    )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=assignment, patient=patient, detail="assigned"
    )
    return assignment


# --- referrals ------------------------------------------------------------------------------
@transaction.atomic
def referral_create(
    *,
    patient: User,
    by: User,
    kind: str = "",
    resource: Resource | None = None,
    provider_name: str = "",
    provider_contact: str = "",
    reason: str = "",
    staff_note: str = "",
) -> Referral:
    """A proposed referral to a directory entry of the patient's program, or to a named
    provider (then ``kind`` is required)."""
    _require_staff_access(by=by, patient=patient)
    provider_name = provider_name.strip()
    if resource is not None:
        if not selectors.resources_for_patient(patient=patient).filter(pk=resource.pk).exists():
            raise ValidationError(
                {"resource": _("Choose an active entry of this patient's program.")}
            )
        kind = kind or resource.kind
    if resource is None and not provider_name:
        raise ValidationError(
            {"resource": _("Choose a directory entry or give the name of a provider.")}
        )
    if kind not in ResourceKind.values:
        raise ValidationError({"kind": _("Choose a kind of service.")})
    referral = Referral.objects.create(
        patient=patient,
        kind=kind,
        resource=resource,
        provider_name=provider_name,
        provider_contact=provider_contact.strip(),
        reason=reason.strip(),
        staff_note=staff_note.strip(),
        created_by=by,
    )
    ReferralEvent.objects.create(
        referral=referral,
        from_status="",
        to_status=ReferralStatus.PROPOSED,
        occurred_on=timezone.localdate(),
        by=by,
    )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=referral, patient=patient, detail=f"kind={kind}"
    )
    return referral


@transaction.atomic
def referral_transition(
    *,
    referral_id: int,
    by: User,
    to_status: str,
    expected_status: str,
    occurred_on: dt.date | None = None,
    appointment_at: dt.datetime | None = None,
    note: str = "",
) -> Referral:
    """Move a referral one step along its path, dated and attributed.

    ``expected_status`` is the status the actor saw: a second submit of the same form (or
    a colleague's step in between) finds the referral moved on and is refused, so no step
    is recorded twice. Holds a row lock on the referral while it checks and writes."""
    referral = (
        Referral.objects.select_for_update()
        .filter(pk=referral_id, patient__in=selectors.patients_for_case_management(user=by))
        .first()
    )
    if referral is None:
        raise AccessRefused
    current = ReferralStatus(referral.status)
    if expected_status != referral.status:
        raise TransitionRefused(
            _("This referral is already “%(status)s”; nothing was changed.")
            % {"status": current.label}
        )
    if to_status not in REFERRAL_NEXT.get(referral.status, ()):
        target = (
            ReferralStatus(to_status).label if to_status in ReferralStatus.values else to_status
        )
        if not referral.next_statuses:
            message = _("A referral that is “%(status)s” cannot change any more.")
        else:
            message = _("A referral that is “%(status)s” cannot become “%(target)s”.")
        raise TransitionRefused(message % {"status": current.label, "target": target})
    occurred_on = occurred_on or timezone.localdate()
    last = referral.events.order_by("-occurred_on").values_list("occurred_on", flat=True).first()
    _check_day(occurred_on, not_before=last)
    if to_status == ReferralStatus.APPOINTMENT_MADE:
        if appointment_at is None:
            raise ValidationError({"appointment_at": _("Give the appointment's date and time.")})
        referral.appointment_at = appointment_at
    previous = referral.status
    referral.status = to_status
    referral.status_changed_at = timezone.now()
    referral.save(update_fields=["status", "status_changed_at", "appointment_at"])
    ReferralEvent.objects.create(
        referral=referral,
        from_status=previous,
        to_status=to_status,
        occurred_on=occurred_on,
        by=by,
        note=note.strip()[:300],
    )
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=referral,
        patient=referral.patient,
        detail=f"{previous}->{to_status}",
    )
    return referral


# --- needs and tasks ----------------------------------------------------------------------
@transaction.atomic
def need_create(*, patient: User, by: User, domain: str, description: str) -> Need:
    _require_staff_access(by=by, patient=patient)
    if domain not in NeedDomain.values:
        raise ValidationError({"domain": _("Choose a domain.")})
    description = description.strip()
    if not description:
        raise ValidationError({"description": _("Describe the need or goal.")})
    need = Need.objects.create(
        patient=patient, domain=domain, description=description, created_by=by
    )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=need, patient=patient, detail=f"domain={domain}"
    )
    return need


@transaction.atomic
def need_status_set(*, need: Need, by: User, status: str) -> Need:
    _require_staff_access(by=by, patient=need.patient)
    if status not in NeedStatus.values:
        raise ValidationError({"status": _("Choose a status.")})
    if need.status == status:
        return need
    previous = need.status
    need.status = status
    need.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=need,
        patient=need.patient,
        detail=f"{previous}->{status}",
    )
    return need


def task_assignee_choices(*, patient: User, by: User) -> list[tuple[User, str]]:
    """Who a task for ``patient`` may be given to: the patient, their current case manager,
    and the clinician writing it."""
    choices: list[tuple[User, str]] = [(patient, _("The patient"))]
    manager = selectors.current_case_manager(patient=patient)
    if manager is not None:
        choices.append((manager, _("Case manager: %(name)s") % {"name": manager.full_name}))
    if by.pk not in {u.pk for u, _label in choices} and selectors.is_case_staff(by):
        choices.append((by, _("Me (%(name)s)") % {"name": by.full_name}))
    return choices


@transaction.atomic
def task_create(
    *, need: Need, by: User, title: str, assignee: User, due_date: dt.date | None = None
) -> Task:
    _require_staff_access(by=by, patient=need.patient)
    title = title.strip()
    if not title:
        raise ValidationError({"title": _("Say what is to be done.")})
    allowed = {u.pk for u, _label in task_assignee_choices(patient=need.patient, by=by)}
    if assignee.pk not in allowed:
        raise ValidationError({"assignee": _("Give the task to the patient or a case manager.")})
    if due_date is not None and due_date < timezone.localdate() - dt.timedelta(days=366):
        raise ValidationError({"due_date": _("This due date is too far in the past.")})
    task = Task.objects.create(
        need=need, title=title, assignee=assignee, due_date=due_date, created_by=by
    )
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=task,
        patient=need.patient,
        detail="for patient" if assignee.pk == need.patient_id else "for staff",
    )
    return task


@transaction.atomic
def task_done_set(*, task_id: int, by: User, done: bool) -> Task:
    """Tick a task done (or not done again). A patient may tick only their own tasks;
    staff any task of a patient they may see. Ticking twice changes nothing the second
    time (a conditional update claims the change)."""
    if by.is_authenticated and by.role == Role.PATIENT:
        task = selectors.task_get_for_patient(patient=by, task_id=task_id)
    else:
        task = selectors.task_get_for_staff(viewer=by, task_id=task_id)
    if task is None:
        raise AccessRefused
    patient = by if by.role == Role.PATIENT else task.need.patient
    if done:
        changed = Task.objects.filter(pk=task.pk, done_at=None).update(
            done_at=timezone.now(), done_by=by
        )
    else:
        changed = Task.objects.filter(pk=task.pk, done_at__isnull=False).update(
            done_at=None, done_by=None
        )
    task.refresh_from_db()
    if changed:
        audit_record(
            actor=by,
            action=AuditAction.UPDATE,
            obj=task,
            patient=patient,
            detail="done" if done else "reopened",
        )
    return task
