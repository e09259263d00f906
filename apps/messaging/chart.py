"""The patient's chart section (progress.extensions): threads filed into the chart."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.messaging.selectors import filed_threads


def filed_threads_section(request: HttpRequest, patient: User) -> tuple[str, dict[str, Any]] | None:
    threads = list(filed_threads(patient=patient))
    audit_record(
        actor=request.user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        object_type="messaging.chart_section",
        patient=patient,
        detail=f"{len(threads)} filed threads",
    )
    return "messaging/partials/chart_section.html", {"threads": threads}
