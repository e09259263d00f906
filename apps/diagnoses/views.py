"""Thin views over the diagnoses selectors and services. A patient the viewer may not see,
or a diagnosis they may not change, is a 404 and an audited refusal."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, is_staff
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record, audit_refusal
from apps.core.forms import add_service_errors
from apps.diagnoses import codes, selectors, services
from apps.diagnoses.forms import DiagnosisAddForm, DiagnosisEditForm, LevelOfCareForm, ResolveForm
from apps.diagnoses.models import Diagnosis

# Typing in the search box fires a request per pause (300 ms debounce in the page); this cap
# per clinician per minute is far above typing speed and stops a runaway script.
SEARCH_PER_MINUTE = 120


def _patient(request: AuthenticatedHttpRequest, patient_id: int) -> User:
    patient = selectors.patient_get_for_staff(viewer=request.user, patient_id=patient_id)
    if patient is None:
        raise audit_refusal(request, "diagnoses.patient", patient_id)
    return patient


def _writer_patient(request: AuthenticatedHttpRequest, patient_id: int) -> User:
    if not selectors.can_write(request.user):
        raise audit_refusal(request, "diagnoses.patient", patient_id)
    return _patient(request, patient_id)


def _diagnosis(request: AuthenticatedHttpRequest, diagnosis_id: int) -> Diagnosis:
    diagnosis = selectors.diagnosis_get_for_writer(viewer=request.user, diagnosis_id=diagnosis_id)
    if diagnosis is None:
        raise audit_refusal(request, "diagnoses.diagnosis", diagnosis_id)
    return diagnosis


def _page(
    request: AuthenticatedHttpRequest,
    patient: User,
    *,
    add_form: DiagnosisAddForm | None = None,
    results: list[codes.Code] | None = None,
    loc_form: LevelOfCareForm | None = None,
    bound: dict[int, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    diagnoses = selectors.diagnoses_for_patient(patient=patient)
    bound = bound or {}
    rows: list[dict[str, Any]] = [
        {
            "dx": d,
            "edit": bound.get(d.pk, {}).get("edit")
            or DiagnosisEditForm(
                prefix=f"dx{d.pk}",
                initial={"rank": d.rank, "onset_date": d.onset_date, "note": d.note},
            ),
            "resolve": bound.get(d.pk, {}).get("resolve") or ResolveForm(prefix=f"res{d.pk}"),
            "open": d.pk in bound,
            "removable": services.diagnosis_removable(diagnosis=d, by=user),
        }
        for d in diagnoses
    ]
    active = [r for r in rows if r["dx"].is_active]
    if selectors.can_write(user):
        codes.warm()
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="diagnoses.diagnosis",
        object_id=f"patient:{patient.pk}",
        patient=patient,
        detail="diagnoses page",
    )
    return render(
        request,
        "diagnoses/patient.html",
        {
            "patient": patient,
            "active": active,
            "resolved": [r for r in rows if not r["dx"].is_active],
            "has_primary": any(r["dx"].is_primary for r in active),
            "can_write": selectors.can_write(user),
            "add_form": add_form or DiagnosisAddForm(),
            "results": results,
            "uses_loc": selectors.uses_level_of_care_text(patient),
            "loc_history": selectors.level_of_care_history(patient=patient),
            "loc_form": loc_form or LevelOfCareForm(),
        },
        status=status,
    )


@login_required
@require_GET
def patient_diagnoses(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    return _page(request, _patient(request, patient_id))


@login_required
@require_POST
def code_search(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The search box's htmx request (POST: what a clinician types stays out of URLs and
    access logs). Staff only; answers the results fragment."""
    user = request.user
    if not is_staff(user):  # after the method check: a GET answers 405 to anyone
        raise Http404
    key = f"dx-search:{user.pk}"
    cache.add(key, 0, timeout=60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        count = 1
    if count > SEARCH_PER_MINUTE:
        return HttpResponse(_("Too many searches; wait a minute."), status=429)
    query = request.POST.get("q", "")[:80]
    return render(
        request,
        "diagnoses/partials/search_results.html",
        {"results": codes.search(query), "query": query, "min_query": codes.MIN_QUERY},
    )


@login_required
@require_POST
def diagnosis_add(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = _writer_patient(request, patient_id)
    form = DiagnosisAddForm(request.POST)
    if request.POST.get("action") == "search":
        # Without JavaScript the Search button posts the whole form: list, write nothing.
        query = request.POST.get("q", "")[:80]
        return _page(
            request, patient, add_form=DiagnosisAddForm(request.POST), results=codes.search(query)
        )
    if form.is_valid():
        try:
            diagnosis = services.diagnosis_add(
                patient=patient,
                by=request.user,
                code=form.cleaned_data["code"],
                rank=form.cleaned_data["rank"],
                onset_date=form.cleaned_data["onset_date"],
                note=form.cleaned_data["note"],
            )
        except services.DiagnosisError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(code)s added as %(rank)s.")
                % {"code": diagnosis.code, "rank": diagnosis.get_rank_display().lower()},
            )
            return redirect("diagnoses:patient", patient.pk)
    query = request.POST.get("q", "")[:80]
    return _page(
        request, patient, add_form=form, results=codes.search(query) if query else None, status=400
    )


@login_required
@require_POST
def diagnosis_edit(request: AuthenticatedHttpRequest, diagnosis_id: int) -> HttpResponse:
    diagnosis = _diagnosis(request, diagnosis_id)
    form = DiagnosisEditForm(request.POST, prefix=f"dx{diagnosis.pk}")
    if form.is_valid():
        try:
            services.diagnosis_update(
                diagnosis=diagnosis,
                by=request.user,
                rank=form.cleaned_data["rank"],
                onset_date=form.cleaned_data["onset_date"],
                note=form.cleaned_data["note"],
            )
        except services.DiagnosisError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("%(code)s saved.") % {"code": diagnosis.code})
            return redirect("diagnoses:patient", diagnosis.patient_id)
    return _page(request, diagnosis.patient, bound={diagnosis.pk: {"edit": form}}, status=400)


@login_required
@require_POST
def diagnosis_resolve(request: AuthenticatedHttpRequest, diagnosis_id: int) -> HttpResponse:
    diagnosis = _diagnosis(request, diagnosis_id)
    form = ResolveForm(request.POST, prefix=f"res{diagnosis.pk}")
    if form.is_valid():
        try:
            services.diagnosis_resolve(
                diagnosis=diagnosis,
                by=request.user,
                resolved_date=form.cleaned_data["resolved_date"],
            )
        except services.DiagnosisError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("%(code)s marked resolved.") % {"code": diagnosis.code})
            return redirect("diagnoses:patient", diagnosis.patient_id)
    return _page(request, diagnosis.patient, bound={diagnosis.pk: {"resolve": form}}, status=400)


@login_required
@require_POST
def diagnosis_remove(request: AuthenticatedHttpRequest, diagnosis_id: int) -> HttpResponse:
    diagnosis = _diagnosis(request, diagnosis_id)
    patient_id = diagnosis.patient_id
    try:
        services.diagnosis_remove_entered_in_error(diagnosis=diagnosis, by=request.user)
    except services.DiagnosisError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Removed as entered in error."))
    return redirect("diagnoses:patient", patient_id)


@login_required
@require_POST
def level_of_care(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = _writer_patient(request, patient_id)
    form = LevelOfCareForm(request.POST)
    if form.is_valid():
        try:
            services.level_of_care_record(
                patient=patient,
                by=request.user,
                text=form.cleaned_data["text"],
                effective_date=form.cleaned_data["effective_date"],
            )
        except services.DiagnosisError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Level-of-care justification saved."))
            return redirect("diagnoses:patient", patient.pk)
    return _page(request, patient, loc_form=form, status=400)
