"""Thin views: parse input, call one selector or service, render. Who may see or change a
patient's list is decided in ``selectors`` (404 when refused, audited as denied)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, patient_required
from apps.accounts.models import Role, User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record, audit_refusal
from apps.core.forms import add_service_errors
from apps.medications import drugnames, selectors, services
from apps.medications.forms import AllergyForm, MedicationForm, ReportForm
from apps.medications.models import Medication, Reconciliation


def _audit_list(viewer: User, patient: User, detail: str) -> None:
    audit_record(
        actor=viewer,
        action=AuditAction.VIEW,
        object_type="medications.list",
        object_id=patient.pk,
        patient=patient,
        detail=detail,
    )


def _clinician_patient(request: AuthenticatedHttpRequest, patient_id: int) -> User:
    """The patient if the viewer is a clinician who may edit their list, else 404."""
    viewer = request.user
    patient = None
    if viewer.role == Role.CLINICIAN:
        patient = selectors.medication_patient_get(viewer=viewer, patient_id=patient_id)
    if patient is None:
        raise audit_refusal(request, "medications.list", patient_id)
    return patient


def _medication(patient: User, medication_id: int) -> Medication:
    medication = selectors.medication_get(patient=patient, medication_id=medication_id)
    if medication is None:
        raise Http404
    return medication


def _save_form(
    request: HttpRequest,
    form: Any,
    create: Callable[[Any, Any], tuple[Any, bool]],
    *,
    done: str,
    again: str,
    then: HttpResponse,
    refused: Callable[[], HttpResponse],
) -> HttpResponse:
    """One form that creates a row: the service's errors go back onto the form; a repeated
    submit (same client id) says the row was already saved and creates nothing."""
    if form.is_valid():
        try:
            _row, created = create(form.raw(), form.cleaned_data["client_id"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if created:
                messages.success(request, done)
            else:
                messages.info(request, again)
            return then
    return refused()


# --- search ---------------------------------------------------------------------------------
@login_required
@require_POST
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Drug names for the name field. POST, so what someone types stays out of URLs and
    access logs. htmx gets ``<option>``s for the datalist, anything else JSON."""
    if request.user.role not in (Role.PATIENT, Role.CLINICIAN):
        raise Http404
    query = str(request.POST.get("q") or request.POST.get("name") or "")[:200]
    matches = drugnames.search(query)
    if request.headers.get("HX-Request"):
        return render(request, "medications/partials/name_options.html", {"matches": matches})
    return JsonResponse({"results": [{"name": m.name, "matched": m.matched} for m in matches]})


# --- patient --------------------------------------------------------------------------------
def _mine_page(
    request: AuthenticatedHttpRequest,
    form: ReportForm | None = None,
    status: int = 200,
    allergy_form: AllergyForm | None = None,
) -> Any:
    patient = request.user
    context = {
        "medications": list(selectors.medications_for(patient=patient)),
        "allergies": list(selectors.allergies_for(patient=patient)),
        "nka": selectors.no_known_allergies(patient=patient),
        "form": form or ReportForm(),
        "allergy_form": allergy_form or AllergyForm(),
    }
    _audit_list(patient, patient, "my medications")
    return render(request, "medications/mine.html", context, status=status)


@patient_required
@require_GET
def mine(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _mine_page(request)


@patient_required
@require_POST
def report(request: AuthenticatedHttpRequest) -> HttpResponse:
    patient = request.user
    form = ReportForm(request.POST)
    return _save_form(
        request,
        form,
        lambda data, key: services.medication_report(patient=patient, data=data, client_id=key),
        done=_("Thank you. Your care team will review this medication."),
        again=_("That medication was already saved."),
        then=redirect("medications:mine"),
        refused=lambda: _mine_page(request, form, status=400),
    )


@patient_required
@require_POST
def allergy_report(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The patient tells their care team about an allergy (kept as patient-reported)."""
    patient = request.user
    form = AllergyForm(request.POST)
    return _save_form(
        request,
        form,
        lambda data, key: services.allergy_add(
            patient=patient, by=patient, data=data, client_id=key
        ),
        done=_("Thank you. Your care team will see it."),
        again=_("That allergy was already saved."),
        then=redirect("medications:mine"),
        refused=lambda: _mine_page(request, allergy_form=form, status=400),
    )


# --- clinicians -----------------------------------------------------------------------------
def _patient_page(
    request: AuthenticatedHttpRequest,
    patient: User,
    *,
    med_form: MedicationForm | None = None,
    allergy_form: AllergyForm | None = None,
    status: int = 200,
) -> HttpResponse:
    medications = list(selectors.medications_for(patient=patient))
    prescribers = list(selectors.prescribers_for(patient=patient))
    context = {
        "patient": patient,
        "medications": medications,
        "to_review": [m for m in medications if m.needs_review],
        "allergies": list(selectors.allergies_for(patient=patient)),
        "nka": selectors.no_known_allergies(patient=patient),
        "med_form": med_form or MedicationForm(prescribers=prescribers),
        "allergy_form": allergy_form or AllergyForm(),
        "prescribers": [p for p in prescribers if p.clinician_profile.is_prescriber],
    }
    _audit_list(request.user, patient, "medication list")
    return render(request, "medications/patient.html", context, status=status)


@login_required
@require_GET
def patient_list(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    return _patient_page(request, _clinician_patient(request, patient_id))


@login_required
@require_POST
def medication_add(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = _clinician_patient(request, patient_id)
    form = MedicationForm(
        request.POST, prescribers=list(selectors.prescribers_for(patient=patient))
    )
    return _save_form(
        request,
        form,
        lambda data, key: services.medication_add(
            patient=patient, by=request.user, data=data, client_id=key
        ),
        done=_("Medication added."),
        again=_("That medication was already saved."),
        then=redirect("medications:patient", patient_id=patient.pk),
        refused=lambda: _patient_page(request, patient, med_form=form, status=400),
    )


@login_required
@require_http_methods(["GET", "POST"])
def medication_edit(
    request: AuthenticatedHttpRequest, patient_id: int, medication_id: int
) -> HttpResponse:
    patient = _clinician_patient(request, patient_id)
    medication = _medication(patient, medication_id)
    prescribers = list(selectors.prescribers_for(patient=patient))
    initial = {
        "name": medication.name,
        "dose": medication.dose,
        "route": medication.route,
        "frequency": medication.frequency,
        "status": medication.status,
        "prescriber": str(medication.prescriber_id or ""),
        "outside_prescriber": medication.outside_prescriber,
        "start_date": medication.start_date.isoformat() if medication.start_date else "",
        "stop_date": medication.stop_date.isoformat() if medication.stop_date else "",
        "reason": medication.reason,
    }
    form = MedicationForm(request.POST or None, initial=initial, prescribers=prescribers)
    if request.method == "POST" and form.is_valid():
        try:
            services.medication_update(medication=medication, by=request.user, data=form.raw())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Medication updated."))
            return redirect("medications:patient", patient_id=patient.pk)
    if request.method == "GET":
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            obj=medication,
            patient=patient,
            detail="edit form",
        )
    return render(
        request,
        "medications/edit.html",
        {"patient": patient, "medication": medication, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def medication_reconcile(
    request: AuthenticatedHttpRequest, patient_id: int, medication_id: int
) -> HttpResponse:
    patient = _clinician_patient(request, patient_id)
    medication = _medication(patient, medication_id)
    decision = str(request.POST.get("decision") or "")
    try:
        services.medication_reconcile(medication=medication, by=request.user, decision=decision)
    except ValidationError as exc:
        message = " ".join(m for ms in exc.message_dict.values() for m in ms)
        if decision not in (Reconciliation.CONFIRMED, Reconciliation.NOT_TAKING):
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        messages.info(request, message)
    else:
        messages.success(
            request,
            _("Confirmed.") if decision == Reconciliation.CONFIRMED else _("Marked as not taking."),
        )
    return redirect("medications:patient", patient_id=patient.pk)


@login_required
@require_POST
def allergy_error(
    request: AuthenticatedHttpRequest, patient_id: int, allergy_id: int
) -> HttpResponse:
    patient = _clinician_patient(request, patient_id)
    allergy = selectors.allergies_for(patient=patient).filter(pk=allergy_id).first()
    if allergy is None:
        raise Http404
    services.allergy_entered_in_error(allergy=allergy, by=request.user)
    messages.success(request, _("Marked as entered in error; it stays in the record."))
    return redirect("medications:patient", patient_id=patient.pk)


@login_required
@require_POST
def allergy_none(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = _clinician_patient(request, patient_id)
    try:
        services.allergy_none_known(patient=patient, by=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Recorded: no known allergies."))
    return redirect("medications:patient", patient_id=patient.pk)


@login_required
@require_POST
def allergy_add(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = _clinician_patient(request, patient_id)
    form = AllergyForm(request.POST)
    return _save_form(
        request,
        form,
        lambda data, key: services.allergy_add(
            patient=patient, by=request.user, data=data, client_id=key
        ),
        done=_("Allergy recorded."),
        again=_("That allergy was already saved."),
        then=redirect("medications:patient", patient_id=patient.pk),
        refused=lambda: _patient_page(request, patient, allergy_form=form, status=400),
    )
