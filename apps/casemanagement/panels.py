"""Dashboard panels and chart sections. Neither is cached: each read is audited."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.accounts.models import Role, User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.casemanagement import selectors
from apps.core.nav import PanelResult


def patient_panel(request: HttpRequest) -> PanelResult:
    user: User = request.user  # type: ignore[assignment]
    if not user.is_authenticated or user.role != Role.PATIENT:
        return None
    tasks = selectors.patient_tasks(patient=user, open_only=True)
    if not tasks:
        return None
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="casemanagement.tasks",
        patient=user,
        detail="dashboard",
    )
    return "casemanagement/panels/patient.html", {"tasks": tasks[:5], "total": len(tasks)}


def clinician_panel(request: HttpRequest) -> PanelResult:
    user: User = request.user  # type: ignore[assignment]
    if not selectors.is_case_staff(user):
        return None
    tasks = selectors.open_tasks_for_staff(user=user, limit=8)
    if not tasks:
        return None
    audit_record(
        actor=user, action=AuditAction.VIEW, object_type="casemanagement.tasks", detail="dashboard"
    )
    return "casemanagement/panels/clinician.html", {"tasks": tasks}


def staff_chart_section(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    viewer: User = request.user  # type: ignore[assignment]
    # The chart's caller decided the viewer may see the patient; case management is
    # narrower than nothing, but check with the one rule all the same.
    if not selectors.patients_for_case_management(user=viewer).filter(pk=patient.pk).exists():
        return None
    audit_record(
        actor=viewer,
        action=AuditAction.VIEW,
        object_type="casemanagement.record",
        object_id=patient.pk,
        patient=patient,
        detail="chart section",
    )
    return "casemanagement/sections/staff.html", {
        "needs": selectors.needs_for(patient=patient),
        "referrals": selectors.referrals_for(patient=patient),
        "case_manager": selectors.current_case_manager(patient=patient),
    }


def patient_chart_section(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    if request.user.pk != patient.pk:
        return None
    tasks = selectors.patient_tasks(patient=patient)
    referrals = selectors.patient_referrals(patient=patient)
    if not tasks and not referrals:
        return None
    audit_record(
        actor=patient,
        action=AuditAction.VIEW,
        object_type="casemanagement.mine",
        object_id=patient.pk,
        patient=patient,
        detail="my progress",
    )
    return "casemanagement/sections/patient.html", {"tasks": tasks, "referrals": referrals}


def continuing_care_section(
    request: HttpRequest, patient: User
) -> tuple[str, dict[str, Any]] | None:
    """Outpatient-therapist and psychiatrist referrals on the discharge pages. The patient
    reads their own discharge summary too: then without staff notes."""
    viewer: User = request.user  # type: ignore[assignment]
    own = viewer.pk == patient.pk
    if not own and not (
        selectors.patients_for_case_management(user=viewer).filter(pk=patient.pk).exists()
    ):
        return None
    referrals = selectors.continuing_care_referrals(patient=patient)
    audit_record(
        actor=viewer,
        action=AuditAction.VIEW,
        object_type="casemanagement.referrals",
        object_id=patient.pk,
        patient=patient,
        detail="continuing care",
    )
    return "casemanagement/sections/continuing_care.html", {
        "referrals": referrals,
        "own": own,
    }
