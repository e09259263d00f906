"""Consents: signing, the patient's list, a signed copy, insurance card images."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods

from apps.accounts.http import AuthenticatedHttpRequest, patient_required
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.forms import add_service_errors
from apps.core.requestcontext import client_ip
from apps.enrollment import selectors, services
from apps.enrollment.forms import SignForm
from apps.enrollment.models import PART2_NOTICE, ConsentDocument, ConsentKind, Insurance
from apps.enrollment.views.common import application_steps, post_or_none, resume


@patient_required
@require_http_methods(["GET", "POST"])
def consent_sign(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    patient = request.user
    document = ConsentDocument.objects.filter(pk=document_id, is_active=True).first()
    application = selectors.application_open_for_patient(patient=patient)
    if document is None or not selectors.consent_applies(
        document=document, program=selectors.consent_program_for_patient(patient=patient)
    ):
        raise Http404
    signed = document.signatures.filter(patient=patient, revoked_at__isnull=True).first()
    form = SignForm(post_or_none(request))
    if request.method == "POST" and signed is None and form.is_valid():
        try:
            signed = services.consent_sign(
                patient=patient,
                document=document,
                typed_name=form.cleaned_data["typed_name"],
                ip=client_ip(request.META),
                user_agent=request.headers.get("User-Agent", ""),
                application=application,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
    if request.method == "POST" and signed is not None:
        if application is not None and application.status in services.EDITABLE_BY_PATIENT:
            return resume(application)
        return redirect("enrollment:consents")
    outstanding = (
        selectors.consents_outstanding(patient=patient, program=application.program)
        if application
        else []
    )
    return render(
        request,
        "enrollment/consent_sign.html",
        {
            "document": document,
            "form": form,
            "signed": signed,
            "application": application,
            "is_part2": document.kind == ConsentKind.PART2,
            "part2_notice": PART2_NOTICE,
            "steps": application_steps(application)
            if application and application.status in services.EDITABLE_BY_PATIENT
            else [],
            "current": "consents",
            "remaining": len(outstanding),
        },
        status=400 if form.errors else 200,
    )


@patient_required
def consents(request: AuthenticatedHttpRequest) -> HttpResponse:
    patient = request.user
    program = patient.patient_profile.program
    signatures = selectors.signatures_with_revocation(viewer=patient, patient=patient)
    releases = selectors.releases_for_patient(viewer=patient, patient=patient)
    outstanding = (
        selectors.consents_outstanding(patient=patient, program=program) if program else []
    )
    audit_record(
        actor=patient,
        action=AuditAction.VIEW,
        object_type="enrollment.consentsignature",
        patient=patient,
        detail=f"list (releases {len(releases)})",
    )
    return render(
        request,
        "enrollment/consents.html",
        {
            "signatures": signatures,
            "outstanding": outstanding,
            "releases": releases,
            "can_add_release": program is not None,
        },
    )


@login_required
def signature_detail(request: AuthenticatedHttpRequest, signature_id: int) -> HttpResponse:
    signature = selectors.signature_get_for_viewer(viewer=request.user, signature_id=signature_id)
    if signature is None:
        raise Http404
    download = request.GET.get("download") == "1"
    context = {
        "signature": signature,
        "document": signature.document,
        "is_part2": signature.document.kind == ConsentKind.PART2,
        "part2_notice": PART2_NOTICE,
    }
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT if download else AuditAction.VIEW,
        obj=signature,
        patient=signature.patient,
    )
    if download:
        text = render_to_string("enrollment/signature.txt", context, request=request)
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="consent-{signature.pk}.txt"'
        return response
    return render(request, "enrollment/signature_detail.html", context)


@login_required
def insurance_card(
    request: AuthenticatedHttpRequest, application_id: int, side: str
) -> HttpResponse | FileResponse:
    """Card images live outside the web root; only the patient and their program's staff."""
    application = selectors.application_get_for_viewer(
        viewer=request.user, application_id=application_id
    )
    if application is None or side not in ("front", "back"):
        raise Http404
    insurance = Insurance.objects.filter(application=application).first()
    field = getattr(insurance, f"card_{side}", None) if insurance else None
    if not field:
        raise Http404
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        obj=insurance,
        patient=application.patient,
        detail=f"card {side}",
    )
    response = FileResponse(
        handle, content_type=getattr(insurance, f"card_{side}_type") or "application/octet-stream"
    )
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    return response
