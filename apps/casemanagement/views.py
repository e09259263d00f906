"""Case-management pages. Thin: parse, call one selector or service, render. Access is
decided by the selectors (None → 404, audited as refused); services re-check it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, patient_required
from apps.accounts.models import Role, User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record, audit_refusal
from apps.casemanagement import selectors, services
from apps.casemanagement.forms import (
    DirectoryFilterForm,
    NeedForm,
    NeedStatusForm,
    ReferralForm,
    TaskForm,
    TransitionForm,
)
from apps.casemanagement.models import Need, Referral, ReferralStatus
from apps.core.forms import add_service_errors


def _staff(request: AuthenticatedHttpRequest) -> User:
    user = request.user
    if not selectors.is_case_staff(user):
        audit_record(actor=user, action=AuditAction.DENIED, object_type="casemanagement.page")
        raise Http404
    return user


def _patient(request: AuthenticatedHttpRequest, patient_id: int) -> tuple[User, User]:
    user = _staff(request)
    patient = selectors.patient_get_for_case_management(viewer=user, patient_id=patient_id)
    if patient is None:
        raise audit_refusal(request, "casemanagement.record", patient_id)
    return user, patient


def _referral(request: AuthenticatedHttpRequest, referral_id: int) -> tuple[User, Referral]:
    user = _staff(request)
    referral = selectors.referral_get_for_staff(viewer=user, referral_id=referral_id)
    if referral is None:
        raise audit_refusal(request, "casemanagement.referral", referral_id)
    return user, referral


def _need(request: AuthenticatedHttpRequest, need_id: int) -> tuple[User, Need]:
    user = _staff(request)
    need = selectors.need_get_for_staff(viewer=user, need_id=need_id)
    if need is None:
        raise audit_refusal(request, "casemanagement.need", need_id)
    return user, need


@login_required
@require_GET
def index(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if user.role == Role.PATIENT:
        return redirect("casemanagement:mine")
    _staff(request)
    return redirect("casemanagement:caseload")


# --- directory and case load ---------------------------------------------------------------
@login_required
@require_GET
def directory(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = _staff(request)
    programs = list(selectors.directory_programs(user=user))
    form = DirectoryFilterForm(request.GET or None, areas=selectors.areas_in(programs=programs))
    filters = form.cleaned_data if form.is_valid() else {}
    resources = selectors.resources_in(
        programs=programs,
        kind=filters.get("kind", ""),
        area=filters.get("area", ""),
        q=(filters.get("q") or "").strip(),
    )
    audit_record(actor=user, action=AuditAction.VIEW, object_type="casemanagement.directory")
    return render(
        request,
        "casemanagement/directory.html",
        {
            "form": form,
            "resources": resources,
            "several_programs": len(programs) > 1,
            "filtered": bool(filters and any(filters.values())),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def caseload(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = _staff(request)
    patients = selectors.case_load(user=user)
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="casemanagement.caseload",
        detail=f"{len(patients)} patients",
    )
    return render(
        request,
        "casemanagement/caseload.html",
        {"patients": patients, "tasks": selectors.open_tasks_for_staff(user=user, limit=20)},
    )


# --- a patient's record ---------------------------------------------------------------------
def _record_context(user: User, patient: User, **forms: Any) -> dict[str, Any]:
    assignees = services.task_assignee_choices(patient=patient, by=user)
    needs = selectors.needs_for(patient=patient)
    for need in needs:
        # One form per need, with ids of its own so every label points at its input.
        bound = forms.get("task_form") if forms.get("task_form_need") == need.pk else None
        need.task_form = bound or TaskForm(  # type: ignore[attr-defined]
            assignees=assignees, auto_id=f"id_task{need.pk}_%s"
        )
        need.status_form = NeedStatusForm(  # type: ignore[attr-defined]
            initial={"status": need.status}, auto_id=f"id_need{need.pk}_%s"
        )
    return {
        "patient": patient,
        "case_manager": selectors.current_case_manager(patient=patient),
        "needs": needs,
        "referrals": selectors.referrals_for(patient=patient),
        "need_form": forms.get("need_form") or NeedForm(),
    }


@login_required
@require_GET
def patient_record(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    user, patient = _patient(request, patient_id)
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="casemanagement.record",
        object_id=patient.pk,
        patient=patient,
    )
    return render(request, "casemanagement/patient.html", _record_context(user, patient))


@login_required
@require_POST
def need_new(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    user, patient = _patient(request, patient_id)
    form = NeedForm(request.POST)
    if form.is_valid():
        try:
            services.need_create(patient=patient, by=user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Need added."))
            return redirect("casemanagement:patient", patient.pk)
    return render(
        request,
        "casemanagement/patient.html",
        _record_context(user, patient, need_form=form),
        status=400,
    )


@login_required
@require_POST
def need_status(request: AuthenticatedHttpRequest, need_id: int) -> HttpResponse:
    user, need = _need(request, need_id)
    form = NeedStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a status."))
        return render(
            request,
            "casemanagement/patient.html",
            _record_context(user, need.patient),
            status=400,
        )
    services.need_status_set(need=need, by=user, status=form.cleaned_data["status"])
    messages.success(request, _("Status saved."))
    return redirect("casemanagement:patient", need.patient_id)


@login_required
@require_POST
def task_new(request: AuthenticatedHttpRequest, need_id: int) -> HttpResponse:
    user, need = _need(request, need_id)
    form = TaskForm(
        request.POST,
        assignees=services.task_assignee_choices(patient=need.patient, by=user),
        auto_id=f"id_task{need.pk}_%s",
    )
    if form.is_valid():
        try:
            services.task_create(need=need, by=user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Task added."))
            return redirect("casemanagement:patient", need.patient_id)
    return render(
        request,
        "casemanagement/patient.html",
        _record_context(user, need.patient, task_form=form, task_form_need=need.pk),
        status=400,
    )


@login_required
@require_POST
def task_done(request: AuthenticatedHttpRequest, task_id: int) -> HttpResponse:
    """Tick a task done or not done: the patient their own, staff any of their patients'."""
    user = request.user
    done = request.POST.get("done", "1") != "0"
    try:
        task = services.task_done_set(task_id=task_id, by=user, done=done)
    except services.AccessRefused:
        raise audit_refusal(request, "casemanagement.task", task_id) from None
    messages.success(request, _("Marked done.") if done else _("Marked not done."))
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)
    if user.role == Role.PATIENT:
        return redirect("casemanagement:mine")
    return redirect("casemanagement:patient", task.need.patient_id)


# --- referrals ---------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def referral_new(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    user, patient = _patient(request, patient_id)
    form = ReferralForm(
        request.POST if request.method == "POST" else None,
        resources=selectors.resources_for_patient(patient=patient),
        initial={"resource": request.GET.get("resource")} if request.method == "GET" else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            referral = services.referral_create(patient=patient, by=user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Referral proposed."))
            return redirect("casemanagement:referral", referral.pk)
    return render(
        request,
        "casemanagement/referral_form.html",
        {"patient": patient, "form": form},
        status=400 if form.errors else 200,
    )


def _referral_page(
    request: HttpRequest,
    user: User,
    referral: Referral,
    *,
    form: TransitionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    referral = selectors.referral_get_for_staff(viewer=user, referral_id=referral.pk) or referral
    return render(
        request,
        "casemanagement/referral_detail.html",
        {
            "referral": referral,
            "patient": referral.patient,
            "events": list(referral.events.select_related("by")),
            "form": form or TransitionForm(referral=referral),
        },
        status=status,
    )


@login_required
@require_GET
def referral_detail(request: AuthenticatedHttpRequest, referral_id: int) -> HttpResponse:
    user, referral = _referral(request, referral_id)
    audit_record(actor=user, action=AuditAction.VIEW, obj=referral, patient=referral.patient)
    return _referral_page(request, user, referral)


@login_required
@require_POST
def referral_transition(request: AuthenticatedHttpRequest, referral_id: int) -> HttpResponse:
    user, referral = _referral(request, referral_id)
    form = TransitionForm(request.POST, referral=referral)
    # The refused-step message is clearer than "not one of the available choices".
    form.fields["to_status"].choices = ReferralStatus.choices  # type: ignore[attr-defined]
    if "appointment_at" not in form.fields:
        form.fields["appointment_at"] = TransitionForm.base_fields["appointment_at"]
    if not form.is_valid():
        return _referral_page(request, user, referral, form=form, status=400)
    data = form.cleaned_data
    try:
        services.referral_transition(
            referral_id=referral.pk,
            by=user,
            to_status=data["to_status"],
            expected_status=data["expected_status"],
            occurred_on=data["occurred_on"],
            appointment_at=data.get("appointment_at"),
            note=data.get("note", ""),
        )
    except services.TransitionRefused as exc:
        messages.error(request, str(exc))
        referral.refresh_from_db()
        return _referral_page(request, user, referral, status=409)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _referral_page(request, user, referral, form=form, status=400)
    except services.AccessRefused:
        raise audit_refusal(request, "casemanagement.referral", referral_id) from None
    messages.success(
        request,
        _("Referral is now “%(status)s”.") % {"status": ReferralStatus(data["to_status"]).label},
    )
    return redirect("casemanagement:referral", referral.pk)


# --- the patient's own page --------------------------------------------------------------------
@patient_required
@require_GET
def mine(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="casemanagement.mine",
        object_id=user.pk,
        patient=user,
    )
    return render(
        request,
        "casemanagement/mine.html",
        {
            "tasks": selectors.patient_tasks(patient=user),
            "team_tasks": selectors.patient_team_tasks(patient=user),
            "referrals": selectors.patient_referrals(patient=user),
            "case_manager": selectors.current_case_manager(patient=user),
        },
    )
