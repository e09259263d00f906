from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


def patient_status_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    from apps.enrollment import selectors
    from apps.enrollment.models import Status

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


def _status_scopes(request: HttpRequest) -> list[str]:
    from apps.core.fragments import user_scope

    # The application, signatures and plan point at the patient (their transitions and
    # goals at the application and plan); consent documents are per program.
    return [user_scope(request.user), "app:enrollment", "programs.program"]


class EnrollmentConfig(AppConfig):
    name = "apps.enrollment"
    label = "enrollment"

    def ready(self) -> None:
        from apps.accounts.selectors import register_in_treatment_rule
        from apps.core import nav
        from apps.enrollment.selectors import in_treatment

        register_in_treatment_rule(in_treatment)

        nav.register_link(
            roles={"patient"},
            label=_("My application"),
            url_name="enrollment:my_application",
            order=10,
        )
        nav.register_link(
            roles={"patient"},
            label=_("Consents and releases"),
            url_name="enrollment:consents",
            order=85,
        )
        nav.register_link(
            roles={"clinician", "admin"},
            label=_("Applications"),
            url_name="enrollment:queue",
            order=20,
        )
        # Below what the patient does today (issue 29, item 16): an applicant sees little
        # else, so it still leads their page; once admitted it is reference.
        nav.register_panel(
            role="patient",
            order=90,
            key="application",
            render=patient_status_panel,
            cache=nav.PanelCache(scopes=_status_scopes),
        )
