"""Treatment and safety plans, for the patient and for their clinicians."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.accounts.http import AuthenticatedHttpRequest, is_staff
from apps.accounts.models import User
from apps.accounts.selectors import crisis_info_for_user
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.forms import add_service_errors
from apps.enrollment import selectors, services
from apps.enrollment.extensions import plan_sections
from apps.enrollment.forms import GoalFormSet, PlanSignForm, SafetyPlanForm, TreatmentPlanForm
from apps.enrollment.models import TreatmentPlan
from apps.enrollment.views.common import post_or_none


def _plan_patient(request: AuthenticatedHttpRequest, patient_id: int | None) -> User:
    user = request.user
    if patient_id is None:
        if not user.is_patient:
            raise Http404
        return user
    # The selector decides: a patient resolves only to themselves, staff to their programs'.
    patient = selectors.plan_patient_get_for_viewer(viewer=user, patient_id=patient_id)
    if patient is None:
        raise Http404
    return patient


@login_required
@require_http_methods(["GET", "POST"])
def treatment_plan(
    request: AuthenticatedHttpRequest, patient_id: int | None = None
) -> HttpResponse:
    user = request.user
    patient = _plan_patient(request, patient_id)
    plans = list(selectors.treatment_plans(patient=patient))
    current = plans[0] if plans else None
    staff = is_staff(user)
    form = formset = sign_form = None
    if staff:
        initial = {}
        goals_initial: list[dict[str, Any]] = []
        if current is not None:
            initial = {
                "problems": current.problems,
                "interventions": current.interventions,
                "review_date": current.review_date,
            }
            goals_initial = [
                {"goal": g.goal, "objective": g.objective, "target_date": g.target_date}
                for g in current.goals.all()
            ]
        form = TreatmentPlanForm(post_or_none(request), initial=initial)
        formset = GoalFormSet(post_or_none(request), initial=goals_initial, prefix="goals")
        if request.method == "POST" and form.is_valid() and formset.is_valid():
            try:
                services.treatment_plan_save(
                    patient=patient,
                    program=patient.patient_profile.program,  # type: ignore[arg-type]
                    by=user,
                    problems=form.cleaned_data["problems"],
                    interventions=form.cleaned_data["interventions"],
                    review_date=form.cleaned_data["review_date"],
                    goals=[g for g in formset.cleaned_data if g],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _(
                        "Treatment plan saved as a new version. The patient will be asked to sign it."
                    ),
                )
                return redirect("enrollment:patient_treatment_plan", patient.pk)
    elif request.method == "POST":
        sign_form = PlanSignForm(request.POST)
        plan_id = request.POST.get("plan", "")
        plan = (
            TreatmentPlan.objects.filter(pk=int(plan_id), patient=patient).first()
            if plan_id.isdigit()
            else None
        )
        if plan is None:
            sign_form.add_error(None, _("That plan was not found."))
        elif sign_form.is_valid():
            try:
                services.treatment_plan_sign(
                    plan=plan, patient=patient, typed_name=sign_form.cleaned_data["typed_name"]
                )
            except ValidationError as exc:
                add_service_errors(sign_form, exc)
            else:
                messages.success(request, _("Thank you — you signed your treatment plan."))
                return redirect("enrollment:treatment_plan")
    if not staff and sign_form is None:
        sign_form = PlanSignForm()
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="enrollment.treatmentplan",
        object_id=current.pk if current else "",
        patient=patient,
    )
    has_errors = bool(
        (form is not None and form.errors)
        or (formset is not None and formset.total_error_count())
        or (sign_form is not None and sign_form.errors)
    )
    return render(
        request,
        "enrollment/treatment_plan.html",
        {
            "patient": patient,
            "plans": plans,
            "current": current,
            "form": form,
            "formset": formset,
            "sign_form": sign_form,
            "is_staff": staff,
            "sections": plan_sections(request, patient, audience="staff" if staff else "patient"),
        },
        status=400 if has_errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def safety_plan(request: AuthenticatedHttpRequest, patient_id: int | None = None) -> HttpResponse:
    user = request.user
    patient = _plan_patient(request, patient_id)
    plans = list(selectors.safety_plans(patient=patient))
    current = plans[0] if plans else None
    form = SafetyPlanForm(post_or_none(request), instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.safety_plan_save(patient=patient, by=user, data=form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Safety plan saved."))
            if user.pk == patient.pk:
                return redirect("crisis")
            return redirect("enrollment:patient_safety_plan", patient.pk)
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="enrollment.safetyplan",
        object_id=current.pk if current else "",
        patient=patient,
    )
    return render(
        request,
        "enrollment/safety_plan.html",
        {
            "patient": patient,
            "plans": plans,
            "current": current,
            "form": form,
            "is_self": user.pk == patient.pk,
            "clinic_phone": crisis_info_for_user(patient)["clinic_phone"],
        },
        status=400 if form.errors else 200,
    )
