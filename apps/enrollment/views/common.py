"""What the enrollment views share: binding forms, the patient's own application and its steps."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy

from apps.accounts.http import AuthenticatedHttpRequest
from apps.enrollment import selectors
from apps.enrollment.models import Application

STEP_LABELS = {
    "details": gettext_lazy("About you"),
    "screening": gettext_lazy("Questionnaires"),
    "consents": gettext_lazy("Consents"),
    "insurance": gettext_lazy("Insurance"),
    "intake": gettext_lazy("Intake appointment"),
}


def post_or_none(request: HttpRequest) -> Any:
    """Bind forms on every POST, even an empty one (an empty POST is an error, not a GET)."""
    return request.POST if request.method == "POST" else None


def own_application(request: AuthenticatedHttpRequest, application_id: int) -> Application:
    application = selectors.application_get_for_viewer(
        viewer=request.user, application_id=application_id
    )
    if application is None:
        raise Http404
    return application


def application_steps(application: Application) -> list[dict[str, Any]]:
    missing = selectors.application_missing_steps(application=application)
    return [
        {
            "key": key,
            "label": STEP_LABELS[key],
            "done": key not in missing,
            "url": reverse(
                "enrollment:apply_resume" if key == "consents" else f"enrollment:apply_{key}",
                args=[application.pk],
            ),
        }
        for key in selectors.STEPS
    ]


def step_url(application: Application, step: str | None) -> str:
    if step is None:
        return reverse("enrollment:my_application")
    if step == "consents":
        outstanding = selectors.consents_outstanding(
            patient=application.patient, program=application.program
        )
        if outstanding:
            return reverse("enrollment:consent_sign", args=[outstanding[0].pk])
    return reverse(f"enrollment:apply_{step}", args=[application.pk])


def resume(application: Application) -> HttpResponse:
    return redirect(step_url(application, selectors.application_next_step(application=application)))
