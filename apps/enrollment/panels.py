"""The patient's application panel on their dashboard (registered with core.nav)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core.fragments import user_scope
from apps.enrollment import selectors
from apps.enrollment.models import Status


def patient_status_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    patient = request.user
    application = selectors.application_latest_for_patient(patient=patient)  # type: ignore[arg-type]
    outstanding = []
    next_step = None
    # Consents to sign are asked for while an episode is open, not after it ended.
    if application is not None and application.status not in (
        Status.DISCHARGED,
        Status.WITHDRAWN,
        Status.REFERRED,
    ):
        outstanding = selectors.consents_outstanding(patient=patient, program=application.program)  # type: ignore[arg-type]
        if application.status in (Status.STARTED, Status.SCREENED):
            next_step = selectors.application_next_step(application=application)
    plan = selectors.treatment_plans(patient=patient).first()  # type: ignore[arg-type]
    return "enrollment/partials/status_panel.html", {
        "application": application,
        "outstanding": outstanding,
        "next_step": next_step,
        "plan": plan,
    }


def status_scopes(request: HttpRequest) -> list[str]:
    # The application, signatures and plan point at the patient (their transitions and
    # goals at the application and plan); consent documents are per program.
    return [user_scope(request.user), "app:enrollment", "programs.program"]
