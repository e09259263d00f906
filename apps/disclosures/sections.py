"""Chart sections: for staff, the patient's consents and releases (revoked ones marked) with
the disclosure log; for the patient, their own disclosure log on My progress."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.disclosures.selectors import disclosures_for_patient
from apps.enrollment.selectors import (
    releases_awaiting_event,
    releases_for_patient,
    signatures_with_revocation,
)
from apps.progress.extensions import register_chart_section


def staff_section(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    viewer: User = request.user  # type: ignore[assignment]
    signatures = signatures_with_revocation(viewer=viewer, patient=patient)
    releases = releases_for_patient(viewer=viewer, patient=patient)
    disclosures = disclosures_for_patient(viewer=viewer, patient=patient)
    audit_record(
        actor=viewer,
        action=AuditAction.VIEW,
        object_type="disclosures.disclosure",
        object_id=patient.pk,
        patient=patient,
        detail=f"chart section ({len(releases)} releases, {len(disclosures)} disclosures)",
    )
    return "disclosures/partials/chart_section.html", {
        "signatures": signatures,
        "releases": releases,
        "disclosures": disclosures,
        "awaiting_event": releases_awaiting_event(releases),
        "revoked_count": sum(1 for s in signatures if getattr(s, "revocation", None))
        + sum(1 for r in releases if r.state == "revoked"),
    }


def patient_section(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    disclosures = disclosures_for_patient(viewer=request.user, patient=patient)  # type: ignore[arg-type]
    audit_record(
        actor=request.user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        object_type="disclosures.disclosure",
        object_id=patient.pk,
        patient=patient,
        detail=f"my progress section ({len(disclosures)})",
    )
    return "disclosures/partials/patient_section.html", {"disclosures": disclosures}


def register() -> None:
    register_chart_section(
        key="disclosures",
        order=8,
        render=staff_section,
        audience="staff",
        title=_("Consents, releases and disclosures"),
    )
    register_chart_section(
        key="disclosures",
        order=80,
        render=patient_section,
        audience="patient",
        title=_("Who your records were shared with"),
    )
