"""What charting adds to other apps' pages: the Notes link, "notes due" on the clinician's
dashboard and Today page, and the notes sections of the chart and the patient's page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.accounts.selectors import program_for_patient
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.charting import selectors
from apps.core import nav
from apps.enrollment.extensions import register_plan_section
from apps.progress.extensions import register_chart_section, register_outcome_metric


def notes_due_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    user: Any = request.user
    if not user.is_authenticated or user.role != "clinician":
        return None
    due = selectors.notes_due_for(clinician=user)
    to_cosign = selectors.to_cosign(supervisor=user)
    return "charting/partials/notes_due_panel.html", {
        "due": due[:8],
        "count": len(due),
        "to_cosign": len(to_cosign),
    }


def chart_notes(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]]:
    viewer: Any = request.user
    notes = selectors.notes_for_chart(viewer=viewer, patient=patient)
    audit_record(
        actor=viewer,
        action=AuditAction.VIEW,
        object_type="charting.note",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail="notes list",
    )
    return "charting/partials/chart_notes.html", {
        "notes": notes,
        "templates": selectors.templates_offered(),
        "can_write": viewer.role == "clinician",
    }


# My progress shows the latest few; "All my notes" lists the rest.
PATIENT_SECTION_NOTES = 6


def patient_notes(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    notes = selectors.notes_for_patient(patient=patient)
    shown = notes[:PATIENT_SECTION_NOTES]
    audit_record(
        actor=patient,
        action=AuditAction.VIEW,
        object_type="charting.note",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail="my notes list",
    )
    return "charting/partials/patient_notes.html", {"notes": shown, "more": len(notes) > len(shown)}


def plan_level_of_care(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    """On the clinician's treatment plan of a substance-use program: the latest ASAM
    assessment and a way to re-assess it at the plan review (ASAM dimensions are re-rated
    at each review)."""
    viewer: Any = request.user
    program = program_for_patient(user=patient)
    if program is None or not program.is_substance_use:
        return None
    latest = selectors.latest_assessment(patient=patient, slug="asam")
    audit_record(
        actor=viewer,
        action=AuditAction.VIEW,
        object_type="charting.note",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail="asam on plan",
    )
    asam = next((t for t in selectors.templates_offered() if t.slug == "asam"), None)
    return "charting/partials/plan_asam.html", {
        "latest": latest,
        "level": (latest.content.get("recommended_level") if latest else None),
        "asam": asam,
        "can_write": viewer.role == "clinician",
    }


def register() -> None:
    nav.register_link(
        roles={"clinician", "admin"}, label=_("Notes"), url_name="charting:home", order=18
    )
    nav.register_panel(role="clinician", order=7, key="notes-due", render=notes_due_panel)
    nav.register_panel(role="today", order=10, key="notes-due", render=notes_due_panel)
    register_outcome_metric(
        key="documentation",
        label=_("Notes signed on time"),
        compute=selectors.documentation_timeliness,
    )
    register_plan_section(key="asam", order=20, render=plan_level_of_care, audience="staff")
    register_chart_section(
        key="notes", order=10, render=chart_notes, audience="staff", title=_("Notes")
    )
    register_chart_section(
        key="my-notes", order=50, render=patient_notes, audience="patient", title=_("My notes")
    )
