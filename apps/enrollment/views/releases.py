"""Releases of information, revoking a consent or release, and a patient's list for staff."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, is_staff, patient_required, staff_required
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.forms import add_service_errors
from apps.core.requestcontext import client_ip
from apps.enrollment import selectors, services
from apps.enrollment.forms import EventConfirmForm, ReleaseForm, RevokeForm, SignForm
from apps.enrollment.models import ConsentKind, Revocation
from apps.enrollment.views.common import post_or_none


def _program_is_part2(patient: User) -> bool:
    program = getattr(getattr(patient, "patient_profile", None), "program", None)
    return program is not None and program.is_substance_use


@login_required
@require_http_methods(["GET", "POST"])
def release_new(request: AuthenticatedHttpRequest, patient_id: int | None = None) -> HttpResponse:
    """A new release: the patient for themself (/releases/new/), or a clinician drafting one
    for a patient of their program (/patients/<id>/releases/new/); the patient signs it."""
    user = request.user
    if patient_id is None:
        if not user.is_patient:
            raise Http404
        patient_id = user.pk
    elif not is_staff(user):
        raise Http404
    patient = selectors.release_patient_for_drafter(viewer=user, patient_id=patient_id)
    if patient is None:
        raise Http404
    form = ReleaseForm(post_or_none(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            release = services.release_create(by=user, patient=patient, **data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if user.is_patient:
                return redirect("enrollment:release_detail", release_id=release.pk)
            messages.success(
                request, _("Draft saved. The patient signs it on their consents page.")
            )
            return redirect("enrollment:patient_consents", patient_id=patient.pk)
    return render(
        request,
        "enrollment/release_new.html",
        {
            "form": form,
            "patient": patient,
            "for_self": user.is_patient,
            "part2": _program_is_part2(patient),
            "part2_notice": services.part2_text(),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def release_detail(request: AuthenticatedHttpRequest, release_id: int) -> HttpResponse:
    user = request.user
    release = selectors.release_get_for_viewer(viewer=user, release_id=release_id)
    if release is None:
        raise Http404
    can_sign = user.pk == release.patient_id and release.signed_at is None
    form = SignForm(post_or_none(request) if can_sign else None)
    if request.method == "POST":
        if not can_sign:
            # A second submit of the sign form, or staff posting: nothing to sign.
            messages.error(request, _("This release is already signed."))
            return redirect("enrollment:release_detail", release_id=release.pk)
        if form.is_valid():
            try:
                services.release_sign(
                    patient=user,
                    release=release,
                    typed_name=form.cleaned_data["typed_name"],
                    ip=client_ip(request.META),
                    user_agent=request.headers.get("User-Agent", ""),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Release signed."))
                return redirect("enrollment:consents")
    audit_record(actor=user, action=AuditAction.VIEW, obj=release, patient=release.patient)
    text = release.signed_text or services.release_text(release=release)
    return render(
        request,
        "enrollment/release_detail.html",
        {"release": release, "text": text, "form": form if can_sign else None},
        status=400 if form.errors else 200,
    )


@staff_required
@require_POST
def release_event_confirm(request: AuthenticatedHttpRequest, release_id: int) -> HttpResponse:
    """Staff confirm that the event a release ends on has happened (a date): it expires.
    Answers on the page it came from (the chart, or the patient's consents)."""
    release = selectors.release_get_for_viewer(viewer=request.user, release_id=release_id)
    if release is None:
        raise Http404
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("enrollment:patient_consents", args=[release.patient_id])
    form = EventConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the day the event happened."))
        return redirect(back)
    try:
        services.release_event_confirm(
            by=request.user, release=release, happened_on=form.cleaned_data["happened_on"]
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect(back)
    messages.success(
        request,
        _("Confirmed: the release to %(name)s has expired; nothing more is shared under it.")
        % {"name": release.recipient_name},
    )
    return redirect(back)


@patient_required
@require_POST
def release_sign_again(request: AuthenticatedHttpRequest, release_id: int) -> HttpResponse:
    """The patient asks to sign a revoked release again: a new draft, opened for signing."""
    patient = request.user
    release = selectors.release_get_for_viewer(viewer=patient, release_id=release_id)
    if release is None:  # a patient sees only their own releases
        raise Http404
    try:
        renewal = services.release_sign_again(patient=patient, release=release)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("enrollment:release_detail", release_id=release.pk)
    return redirect("enrollment:release_detail", release_id=renewal.pk)


@patient_required
@require_http_methods(["GET", "POST"])
def revoke(request: AuthenticatedHttpRequest, kind: str, object_id: int) -> HttpResponse:
    """Confirm, then revoke a signed consent (kind "consent") or release (kind "release")."""
    patient = request.user
    signature = release = None
    if kind == "consent":
        signature = selectors.signature_get_for_viewer(viewer=patient, signature_id=object_id)
        target: Any = signature
    elif kind == "release":
        release = selectors.release_get_for_viewer(viewer=patient, release_id=object_id)
        target = release
    else:
        raise Http404
    if target is None or target.patient_id != patient.pk:
        raise Http404
    already = Revocation.objects.filter(**{"signature" if signature else "release": target}).first()
    today = selectors.patient_today(patient)
    form = RevokeForm(post_or_none(request), initial={"effective_on": today})
    if request.method == "POST" and already is None and form.is_valid():
        try:
            services.consent_revoke(
                patient=patient,
                signature=signature,
                release=release,
                effective_on=form.cleaned_data["effective_on"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Revoked. Your care team has been told."))
            return redirect("enrollment:consents")
    if request.method == "POST" and already is not None:
        messages.error(request, _("This consent is already revoked."))
        return redirect("enrollment:consents")
    title = (
        signature.document.title
        if signature
        else _("Release of information to %(name)s")
        % {
            "name": release.recipient_name  # type: ignore[union-attr]
        }
    )
    required = signature is not None
    return render(
        request,
        "enrollment/revoke.html",
        {
            "form": form,
            "title": title,
            "target": target,
            "required": required,
            "already": already,
            "is_part2": bool(signature and signature.document.kind == ConsentKind.PART2)
            or bool(release and release.is_part2),
        },
        status=400 if form.errors else 200,
    )


@staff_required
def patient_consents(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    """A patient's consents and releases, for their clinicians: revoked ones stand out."""
    user = request.user
    patient = selectors.plan_patient_get_for_viewer(viewer=user, patient_id=patient_id)
    if patient is None:
        raise Http404
    signatures = selectors.signatures_with_revocation(viewer=user, patient=patient)
    releases = selectors.releases_for_patient(viewer=user, patient=patient)
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="enrollment.releaseofinformation",
        patient=patient,
        detail=f"consents and releases ({len(signatures)}+{len(releases)})",
    )
    return render(
        request,
        "enrollment/patient_consents.html",
        {"patient": patient, "signatures": signatures, "releases": releases},
    )
