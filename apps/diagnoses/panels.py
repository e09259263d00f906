"""What diagnoses adds to other apps' pages: the chart section (staff), the patient's own
read-only list on My progress (open notes: the same diagnoses are in the signed notes they
read), and the diagnoses carried on the treatment plan. Each render audits its read."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.http import is_staff
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.diagnoses import selectors
from apps.enrollment.extensions import register_plan_section
from apps.progress.extensions import register_chart_section


def _audit_list(actor: Any, patient: User, detail: str) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.VIEW,
        object_type="diagnoses.diagnosis",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail=detail,
    )


def chart_diagnoses(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    viewer: Any = request.user
    if not is_staff(viewer):
        return None
    _audit_list(viewer, patient, "chart diagnoses")
    return "diagnoses/partials/chart_section.html", {
        "diagnoses": selectors.diagnoses_active(patient=patient),
        "loc": selectors.level_of_care_latest(patient=patient),
        "can_write": selectors.can_write(viewer),
    }


def my_diagnoses(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    # The viewer is the patient (progress's My progress page decided that). The clinician's
    # free-text note on a diagnosis is a working note, not shown here.
    rows = selectors.diagnoses_for_patient(patient=patient)
    _audit_list(patient, patient, "my diagnoses")
    return "diagnoses/partials/patient_section.html", {
        "diagnoses": [d for d in rows if d.is_active],
        "resolved": [d for d in rows if not d.is_active],
    }


def plan_diagnoses_staff(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    viewer: Any = request.user
    if not is_staff(viewer):
        return None
    _audit_list(viewer, patient, "treatment plan diagnoses")
    return "diagnoses/partials/plan_section.html", {
        "diagnoses": selectors.diagnoses_active(patient=patient),
        "loc": selectors.level_of_care_latest(patient=patient),
        "staff": True,
    }


def plan_diagnoses_patient(
    request: HttpRequest, patient: User
) -> tuple[str, dict[str, Any]] | None:
    if request.user.pk != patient.pk:
        return None
    _audit_list(patient, patient, "my treatment plan diagnoses")
    return "diagnoses/partials/plan_section.html", {
        "diagnoses": selectors.diagnoses_active(patient=patient),
        "loc": None,
        "staff": False,
    }


def register() -> None:
    register_chart_section(
        key="diagnoses", order=5, render=chart_diagnoses, audience="staff", title=_("Diagnoses")
    )
    register_chart_section(
        key="my-diagnoses",
        order=40,
        render=my_diagnoses,
        audience="patient",
        title=_("My diagnoses"),
    )
    register_plan_section(key="diagnoses", order=10, render=plan_diagnoses_staff, audience="staff")
    register_plan_section(
        key="diagnoses", order=10, render=plan_diagnoses_patient, audience="patient"
    )
