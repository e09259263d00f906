"""What billing adds to other apps' pages: the Billing link for staff, a billing section on
the clinician's chart and the statement of services on the patient's own page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.http import is_staff
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.billing import selectors
from apps.core import nav
from apps.progress.extensions import register_chart_section

CHART_DAYS = 30
STATEMENT_DAYS = 60


def _program(patient: User) -> Any:
    return getattr(getattr(patient, "patient_profile", None), "program", None)


def chart_billing(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    viewer: Any = request.user
    program = _program(patient)
    if program is None or not is_staff(viewer):
        return None
    end = timezone.localdate()
    start = end - dt.timedelta(days=CHART_DAYS - 1)
    result = selectors.billable_days(
        program=program, start=start, end=end, patient_ids=[patient.pk]
    )
    audit_record(
        actor=viewer,
        action=AuditAction.VIEW,
        object_type="billing.days",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail="billing chart section",
    )
    uses = result.authorizations.get(patient.pk, [])
    for use in uses:
        use.notes = use.warnings(end)  # type: ignore[attr-defined]
    return "billing/partials/chart_billing.html", {
        "program": program,
        "start": start,
        "end": end,
        "total": len(result.days),
        "billable": sum(1 for d in result.days if d.billable),
        "blocked": [d for d in result.days if not d.billable][-5:],
        "uses": uses,
    }


def patient_statement(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    """The patient's statement of services: dates and services in plain words, no codes,
    no billing status (that is the clinic's business, not a verdict on the patient)."""
    program = _program(patient)
    if program is None:
        return None
    end = timezone.localdate()
    start = end - dt.timedelta(days=STATEMENT_DAYS - 1)
    result = selectors.billable_days(
        program=program, start=start, end=end, patient_ids=[patient.pk]
    )
    audit_record(
        actor=patient,
        action=AuditAction.VIEW,
        object_type="billing.statement",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail="statement of services",
    )
    return "billing/partials/statement.html", {"days": list(reversed(result.days))}


def register() -> None:
    nav.register_link(
        roles={"clinician", "admin"}, label=_("Billing"), url_name="billing:home", order=19
    )
    register_chart_section(
        key="billing", order=80, render=chart_billing, audience="staff", title=_("Billing")
    )
    register_chart_section(
        key="statement",
        order=80,
        render=patient_statement,
        audience="patient",
        title=_("My statement of services"),
    )
