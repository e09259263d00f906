"""Thin views: parse input, call a selector (access) and a service (writes), render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.accounts.http import AuthenticatedHttpRequest, staff_required
from apps.accounts.selectors import patient_get_for_viewer
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.forms import add_service_errors
from apps.disclosures import services
from apps.disclosures.forms import DisclosureForm
from apps.enrollment.selectors import releases_for_patient


@staff_required
@require_http_methods(["GET", "POST"])
def disclosure_new(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    """Staff log a disclosure made under one of the patient's releases. Every release is
    offered (so a revoked one is refused with its reason), active ones first."""
    user = request.user
    patient = patient_get_for_viewer(viewer=user, patient_id=patient_id)
    if patient is None:
        raise Http404
    releases = [
        r
        for r in sorted(
            releases_for_patient(viewer=user, patient=patient),
            key=lambda r: r.state != "active",
        )
        if r.signed_at is not None
    ]
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="enrollment.releaseofinformation",
        patient=patient,
        detail=f"disclosure form ({len(releases)} releases)",
    )
    form = DisclosureForm(request.POST if request.method == "POST" else None, releases=releases)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        release = next(r for r in releases if r.pk == data["release"])
        try:
            services.disclosure_record(
                by=user,
                release=release,
                kind=data["kind"],
                description=data["description"],
                method=data["method"],
                disclosed_at=data["disclosed_at"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Disclosure logged."))
            return redirect("progress:chart", patient_id=patient.pk)
    return render(
        request,
        "disclosures/new.html",
        {
            "form": form,
            "patient": patient,
            "has_active": any(r.state == "active" for r in releases),
        },
        status=400 if form.errors else 200,
    )
