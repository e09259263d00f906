"""The patient's application: start, each step, submit, withdraw."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, patient_required
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.forms import add_service_errors
from apps.enrollment import selectors, services
from apps.enrollment.forms import DetailsForm, InsuranceForm, IntakeRequestForm, StartForm
from apps.enrollment.models import Application, Insurance, Status
from apps.enrollment.views.common import (
    application_steps,
    own_application,
    post_or_none,
    resume,
    step_url,
)
from apps.measures.forms import InstrumentForm
from apps.measures.registry import instrument_get
from apps.measures.scoring import AnswersInvalid
from apps.programs.models import Program


@login_required
def my_application(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_patient:
        return redirect("enrollment:queue")
    application = selectors.application_latest_for_patient(patient=user)
    context: dict[str, Any] = {"application": application}
    if application is None or not application.is_open:
        context["programs"] = Program.objects.filter(is_active=True).order_by("name")
    if application is not None:
        audit_record(actor=user, action=AuditAction.VIEW, obj=application, patient=user)
        context.update(
            transitions=list(application.transitions.all()),
            steps=application_steps(application)
            if application.status in services.EDITABLE_BY_PATIENT
            else [],
            next_url=step_url(
                application, selectors.application_next_step(application=application)
            ),
            outstanding=selectors.consents_outstanding(patient=user, program=application.program),
            plan=selectors.treatment_plans(patient=user).first(),
            safety_plan=selectors.safety_plan_current(patient=user),
            intake=selectors.intake_booked(application=application),
            now=timezone.now(),
        )
    return render(request, "enrollment/my_application.html", context)


@patient_required
@require_POST
def apply_start(request: AuthenticatedHttpRequest) -> HttpResponse:
    patient = request.user
    form = StartForm(request.POST)
    program = None
    if form.is_valid():
        program = Program.objects.filter(pk=form.cleaned_data["program"], is_active=True).first()
    if program is None:
        messages.error(request, _("Choose a program to apply to."))
        return redirect("enrollment:my_application")
    try:
        application = services.application_start(patient=patient, program=program)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("enrollment:my_application")
    return resume(application)


@patient_required
def apply_resume(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    return resume(own_application(request, application_id))


def _editable_or_redirect(request: HttpRequest, application: Application) -> HttpResponse | None:
    if application.status not in services.EDITABLE_BY_PATIENT:
        messages.info(request, _("Your application has been submitted; it can no longer change."))
        return redirect("enrollment:my_application")
    return None


@patient_required
@require_http_methods(["GET", "POST"])
def apply_details(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = own_application(request, application_id)
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    initial = {"phone": str(application.patient.phone or "")} if not application.phone else {}
    form = DetailsForm(post_or_none(request), instance=application, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_details_save(
                application=application, by=request.user, data=form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return resume(application)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        obj=application,
        patient=application.patient,
        detail="details",
    )
    return render(
        request,
        "enrollment/apply_details.html",
        {
            "application": application,
            "form": form,
            "steps": application_steps(application),
            "current": "details",
        },
        status=400 if form.errors else 200,
    )


@patient_required
def apply_screening(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = own_application(request, application_id)
    done = selectors.screening_done_codes(application=application)
    battery = selectors.screening_battery(application=application)
    pending = [i for i in battery if i.code not in done]
    if pending and application.status in services.EDITABLE_BY_PATIENT:
        return redirect("enrollment:apply_measure", application.pk, pending[0].code)
    return resume(application)


@patient_required
@require_http_methods(["GET", "POST"])
def apply_measure(
    request: AuthenticatedHttpRequest, application_id: int, code: str
) -> HttpResponse:
    application = own_application(request, application_id)
    definition = instrument_get(code)
    battery = selectors.screening_battery(application=application)
    if definition is None or definition not in battery:
        raise Http404
    done = selectors.screening_done_codes(application=application)
    if definition.code in done and request.method == "GET":
        messages.info(request, _("You have already answered this questionnaire."))
        return resume(application)
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    form = InstrumentForm(post_or_none(request), instrument=definition, prefix=definition.code)
    if request.method == "POST" and form.is_complete():
        try:
            response = services.application_measure_submit(
                application=application,
                by=request.user,
                instrument_code=definition.code,
                answers=form.raw_answers(),
            )
        except AnswersInvalid as exc:
            form.add_answer_errors(exc)
        else:
            application.refresh_from_db()
            if any(_flag_shows_crisis(definition, f) for f in response.flags):
                return redirect("enrollment:apply_support", application.pk)
            return redirect("enrollment:apply_screening", application.pk)
    position = [i.code for i in battery].index(definition.code) + 1
    return render(
        request,
        "enrollment/apply_measure.html",
        {
            "application": application,
            "form": form,
            "instrument": definition,
            "position": position,
            "count": len(battery),
            "steps": application_steps(application),
            "current": "screening",
        },
        status=400 if form.errors else 200,
    )


def _flag_shows_crisis(definition: Any, code: str) -> bool:
    return any(rule.code == code and rule.show_crisis for rule in definition.flag_rules)


@patient_required
def apply_support(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    """Crisis resources, shown right after an answer that raised a safety flag."""
    application = own_application(request, application_id)
    return render(
        request,
        "enrollment/apply_support.html",
        {
            "application": application,
            "clinic_phone": application.program.clinic_phone,
            "continue_url": reverse("enrollment:apply_resume", args=[application.pk]),
        },
    )


@patient_required
@require_http_methods(["GET", "POST"])
def apply_insurance(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = own_application(request, application_id)
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    instance = Insurance.objects.filter(application=application).first()
    form = InsuranceForm(post_or_none(request), request.FILES or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            services.insurance_save(
                application=application,
                by=request.user,
                data=form.cleaned_data,
                card_front=request.FILES.get("card_front"),
                card_back=request.FILES.get("card_back"),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return resume(application)
    return render(
        request,
        "enrollment/apply_insurance.html",
        {
            "application": application,
            "form": form,
            "insurance": instance,
            "steps": application_steps(application),
            "current": "insurance",
        },
        status=400 if form.errors else 200,
    )


@patient_required
@require_http_methods(["GET", "POST"])
def apply_intake(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = own_application(request, application_id)
    if application.status == Status.SUBMITTED and request.method == "POST":
        return redirect("enrollment:my_application")  # duplicate submit: nothing changes
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    form = IntakeRequestForm(post_or_none(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.application_submit(
                application=application,
                by=request.user,
                preferred_times=[
                    data.get("preferred_1"),
                    data.get("preferred_2"),
                    data.get("preferred_3"),
                ],
                notes=data.get("notes") or "",
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except services.TransitionRefused:
            form.add_error(None, _("Finish the earlier steps first."))
        else:
            messages.success(
                request,
                _("Thank you. Your application is submitted; the team will schedule your intake."),
            )
            return redirect("enrollment:my_application")
    return render(
        request,
        "enrollment/apply_intake.html",
        {
            "application": application,
            "form": form,
            "steps": application_steps(application),
            "current": "intake",
        },
        status=400 if form.errors else 200,
    )


@patient_required
@require_POST
def apply_withdraw(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = own_application(request, application_id)
    try:
        services.application_withdraw(application=application, by=request.user)
    except services.TransitionRefused:
        messages.error(
            request, _("This application can no longer be withdrawn here; talk to your clinician.")
        )
    else:
        messages.success(request, _("Your application was withdrawn."))
    return redirect("enrollment:my_application")
