"""The "Medications and allergies" section of the clinician's chart and the patient's own
"My medications" section on My progress (progress.extensions)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.medications import selectors
from apps.medications.models import Status
from apps.progress.extensions import register_chart_section
from apps.progress.selectors import local_today


def _context(patient: User) -> dict[str, Any]:
    medications = list(selectors.medications_for(patient=patient))
    return {
        "allergies": list(selectors.allergies_for(patient=patient)),
        "nka": selectors.no_known_allergies(patient=patient),
        "current": [m for m in medications if m.status != Status.STOPPED],
        "stopped": [m for m in medications if m.status == Status.STOPPED],
        "to_review": [m for m in medications if m.needs_review],
        "adherence": selectors.adherence_recent(patient=patient, today=local_today(patient)),
    }


def staff_section(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    context = _context(patient)
    audit_record(
        actor=request.user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        object_type="medications.list",
        object_id=patient.pk,
        patient=patient,
        detail="chart section",
    )
    return "medications/partials/chart_section.html", context


def patient_section(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    context = _context(patient)
    audit_record(
        actor=request.user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        object_type="medications.list",
        object_id=patient.pk,
        patient=patient,
        detail="my progress section",
    )
    return "medications/partials/patient_section.html", context


def register() -> None:
    # Allergies belong near the top of the chart, so the section comes early.
    register_chart_section(
        key="medications",
        order=5,
        render=staff_section,
        audience="staff",
        title=_("Medications and allergies"),
    )
    register_chart_section(
        key="medications",
        order=50,
        render=patient_section,
        audience="patient",
        title=_("My medications"),
    )
