"""Thin views: parse input, call a selector (access) and a service (writes), render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, is_staff, patient_required, staff_required
from apps.accounts.models import User
from apps.accounts.selectors import crisis_info_for_user
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.forms import add_service_errors
from apps.core.params import query_int
from apps.core.requestcontext import client_ip
from apps.enrollment import selectors, services
from apps.enrollment.extensions import continuing_care_sections, plan_sections
from apps.enrollment.forms import (
    AdmitForm,
    DetailsForm,
    DischargeForm,
    GoalFormSet,
    InsuranceForm,
    IntakeRequestForm,
    PlanSignForm,
    ReferForm,
    ReleaseForm,
    RevokeForm,
    SafetyPlanForm,
    ScheduleIntakeForm,
    SignForm,
    StartForm,
    TreatmentPlanForm,
    WaitlistForm,
)
from apps.enrollment.models import (
    PART2_NOTICE,
    Application,
    ConsentDocument,
    ConsentKind,
    Insurance,
    Revocation,
    Status,
    TreatmentPlan,
)
from apps.measures.forms import InstrumentForm
from apps.measures.models import SafetyFlag
from apps.measures.registry import instrument_get
from apps.measures.scoring import AnswersInvalid, change_summary
from apps.measures.selectors import response_by_ref
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff

STEP_LABELS = {
    "details": gettext_lazy("About you"),
    "screening": gettext_lazy("Questionnaires"),
    "consents": gettext_lazy("Consents"),
    "insurance": gettext_lazy("Insurance"),
    "intake": gettext_lazy("Intake appointment"),
}


def _post(request: HttpRequest) -> Any:
    """Bind forms on every POST, even an empty one (an empty POST is an error, not a GET)."""
    return request.POST if request.method == "POST" else None


def _own_application(request: AuthenticatedHttpRequest, application_id: int) -> Application:
    application = selectors.application_get_for_viewer(
        viewer=request.user, application_id=application_id
    )
    if application is None:
        raise Http404
    return application


def _steps(application: Application) -> list[dict[str, Any]]:
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


def _step_url(application: Application, step: str | None) -> str:
    if step is None:
        return reverse("enrollment:my_application")
    if step == "consents":
        outstanding = selectors.consents_outstanding(
            patient=application.patient, program=application.program
        )
        if outstanding:
            return reverse("enrollment:consent_sign", args=[outstanding[0].pk])
    return reverse(f"enrollment:apply_{step}", args=[application.pk])


def _resume(application: Application) -> HttpResponse:
    return redirect(
        _step_url(application, selectors.application_next_step(application=application))
    )


# --- patient ----------------------------------------------------------------------------
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
            steps=_steps(application) if application.status in services.EDITABLE_BY_PATIENT else [],
            next_url=_step_url(
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
    return _resume(application)


@patient_required
def apply_resume(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    return _resume(_own_application(request, application_id))


def _editable_or_redirect(request: HttpRequest, application: Application) -> HttpResponse | None:
    if application.status not in services.EDITABLE_BY_PATIENT:
        messages.info(request, _("Your application has been submitted; it can no longer change."))
        return redirect("enrollment:my_application")
    return None


@patient_required
@require_http_methods(["GET", "POST"])
def apply_details(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = _own_application(request, application_id)
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    initial = {"phone": str(application.patient.phone or "")} if not application.phone else {}
    form = DetailsForm(_post(request), instance=application, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_details_save(
                application=application, by=request.user, data=form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _resume(application)
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
            "steps": _steps(application),
            "current": "details",
        },
        status=400 if form.errors else 200,
    )


@patient_required
def apply_screening(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = _own_application(request, application_id)
    done = selectors.screening_done_codes(application=application)
    battery = selectors.screening_battery(application=application)
    pending = [i for i in battery if i.code not in done]
    if pending and application.status in services.EDITABLE_BY_PATIENT:
        return redirect("enrollment:apply_measure", application.pk, pending[0].code)
    return _resume(application)


@patient_required
@require_http_methods(["GET", "POST"])
def apply_measure(
    request: AuthenticatedHttpRequest, application_id: int, code: str
) -> HttpResponse:
    application = _own_application(request, application_id)
    definition = instrument_get(code)
    battery = selectors.screening_battery(application=application)
    if definition is None or definition not in battery:
        raise Http404
    done = selectors.screening_done_codes(application=application)
    if definition.code in done and request.method == "GET":
        messages.info(request, _("You have already answered this questionnaire."))
        return _resume(application)
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    form = InstrumentForm(_post(request), instrument=definition, prefix=definition.code)
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
            "steps": _steps(application),
            "current": "screening",
        },
        status=400 if form.errors else 200,
    )


def _flag_shows_crisis(definition: Any, code: str) -> bool:
    return any(rule.code == code and rule.show_crisis for rule in definition.flag_rules)


@patient_required
def apply_support(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    """Crisis resources, shown right after an answer that raised a safety flag."""
    application = _own_application(request, application_id)
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
    application = _own_application(request, application_id)
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    instance = Insurance.objects.filter(application=application).first()
    form = InsuranceForm(_post(request), request.FILES or None, instance=instance)
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
            return _resume(application)
    return render(
        request,
        "enrollment/apply_insurance.html",
        {
            "application": application,
            "form": form,
            "insurance": instance,
            "steps": _steps(application),
            "current": "insurance",
        },
        status=400 if form.errors else 200,
    )


@patient_required
@require_http_methods(["GET", "POST"])
def apply_intake(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = _own_application(request, application_id)
    if application.status == Status.SUBMITTED and request.method == "POST":
        return redirect("enrollment:my_application")  # duplicate submit: nothing changes
    if (stop := _editable_or_redirect(request, application)) is not None:
        return stop
    form = IntakeRequestForm(_post(request))
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
            "steps": _steps(application),
            "current": "intake",
        },
        status=400 if form.errors else 200,
    )


@patient_required
@require_POST
def apply_withdraw(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    application = _own_application(request, application_id)
    try:
        services.application_withdraw(application=application, by=request.user)
    except services.TransitionRefused:
        messages.error(
            request, _("This application can no longer be withdrawn here; talk to your clinician.")
        )
    else:
        messages.success(request, _("Your application was withdrawn."))
    return redirect("enrollment:my_application")


# --- consents ---------------------------------------------------------------------------
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
    signed = document.signatures.filter(patient=patient).first()
    form = SignForm(_post(request))
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
            return _resume(application)
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
            "steps": _steps(application)
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


# --- clinician --------------------------------------------------------------------------
@staff_required
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    programs = list(programs_for_staff(user=user))
    program_id = query_int(request, "program", minimum=1)
    status_filter = request.GET.get("status", "")
    search = request.GET.get("q", "")[:100]
    flagged_only = request.GET.get("flagged") == "1"
    applications = list(
        selectors.applications_queue(
            user=user,
            program_id=program_id,
            status_filter=status_filter,
            flagged_only=flagged_only,
            search=search,
        )[:200]
    )
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="enrollment.application",
        detail=f"queue ({len(applications)})",
    )
    return render(
        request,
        "enrollment/queue.html",
        {
            "applications": applications,
            "programs": programs,
            "program_id": program_id,
            "status_filter": status_filter,
            "search": search,
            "flagged_only": flagged_only,
            "filters": [
                ("", _("Needs action")),
                ("new", _("New")),
                ("screened", _("Screening done")),
                ("intake", _("Intake scheduled")),
                ("decided", _("Decided")),
                ("closed", _("Closed")),
                ("all", _("All")),
            ],
        },
    )


def _parse_times(values: list[str]) -> list[datetime]:
    """Stored as ISO strings (UTC); shown by the template in the viewer's zone."""
    out = []
    for value in values or []:
        try:
            out.append(datetime.fromisoformat(value))
        except (TypeError, ValueError):
            continue
    return out


def _intake_clinician(application: Application) -> Any:
    booked = selectors.intake_booked(application=application)
    return booked.clinician_id if booked else None


def _detail_context(application: Application, **forms: Any) -> dict[str, Any]:
    patient = application.patient
    responses = selectors.screening_responses(application=application)
    defaults = {
        "schedule_form": ScheduleIntakeForm(
            application=application,
            initial={
                "intake_at": application.intake_at,
                "clinician": _intake_clinician(application),
            },
        ),
        "intake": selectors.intake_booked(application=application),
        "intake_held": selectors.intake_held(application=application),
        "admit_form": AdmitForm(application=application),
        "waitlist_form": WaitlistForm(),
        "refer_form": ReferForm(),
    }
    defaults.update(forms)
    return {
        "application": application,
        "patient": patient,
        "responses": responses,
        "flags": list(
            SafetyFlag.objects.filter(patient=patient, program=application.program).order_by(
                "acknowledged_at", "-opened_at"
            )
        ),
        "signatures": list(
            application.patient.consent_signatures.select_related("document", "revocation")
        ),
        "insurance": Insurance.objects.filter(application=application).first(),
        "transitions": list(application.transitions.select_related("by")),
        "can_schedule": Status.INTAKE_SCHEDULED in services.TRANSITIONS[application.status],
        "can_decide": application.status in (Status.INTAKE_SCHEDULED, Status.WAITLISTED),
        "can_discharge": application.status == Status.ADMITTED,
        "preferred_times": _parse_times(application.preferred_times),
        "part2_notice": PART2_NOTICE,
        **defaults,
    }


@staff_required
def application_detail(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    user = request.user
    application = selectors.application_get_for_staff(viewer=user, application_id=application_id)
    if application is None:
        raise Http404
    audit_record(actor=user, action=AuditAction.VIEW, obj=application, patient=application.patient)
    return render(request, "enrollment/application_detail.html", _detail_context(application))


@staff_required
@require_POST
def application_decide(
    request: AuthenticatedHttpRequest, application_id: int, action: str
) -> HttpResponse:
    user = request.user
    application = selectors.application_get_for_staff(viewer=user, application_id=application_id)
    if application is None or action not in ("schedule", "admit", "waitlist", "refer"):
        raise Http404
    form_classes: dict[str, Any] = {
        "schedule": (ScheduleIntakeForm, "schedule_form"),
        "admit": (AdmitForm, "admit_form"),
        "waitlist": (WaitlistForm, "waitlist_form"),
        "refer": (ReferForm, "refer_form"),
    }
    form_class, key = form_classes[action]
    form = (
        form_class(request.POST, application=application)
        if action in ("admit", "schedule")
        else form_class(request.POST)
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            if action == "schedule":
                services.application_schedule_intake(
                    application=application,
                    by=user,
                    intake_at=data["intake_at"],
                    clinician=data["clinician"],
                )
            elif action == "admit":
                services.application_admit(
                    application=application,
                    by=user,
                    start_date=data["start_date"],
                    primary_clinician=data["primary_clinician"],
                    groups=data.get("groups") or (),
                )
            elif action == "waitlist":
                services.application_waitlist(
                    application=application,
                    by=user,
                    position=data["position"],
                    expected=data.get("expected"),
                )
            else:
                services.application_refer(application=application, by=user, reason=data["reason"])
        except services.TransitionRefused as exc:
            messages.error(
                request,
                _("That step is not allowed from “%(status)s”. Nothing was changed.")
                % {"status": Status(exc.from_status).label},
            )
            application.refresh_from_db()
            return render(
                request,
                "enrollment/application_detail.html",
                _detail_context(application),
                status=409,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, _("Saved: %(status)s.") % {"status": Status(application.status).label}
            )
            return redirect("enrollment:application_detail", application.pk)
    return render(
        request,
        "enrollment/application_detail.html",
        _detail_context(application, **{key: form}),
        status=400,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def discharge(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    user = request.user
    application = selectors.application_get_for_staff(viewer=user, application_id=application_id)
    if application is None:
        raise Http404
    if application.status != Status.ADMITTED:
        messages.info(request, _("Only admitted patients can be discharged."))
        return redirect("enrollment:application_detail", application.pk)
    form = DischargeForm(_post(request))
    phq9 = InstrumentForm(_post(request), instrument=instrument_get("phq9"), prefix="phq9")  # type: ignore[arg-type]
    gad7 = InstrumentForm(_post(request), instrument=instrument_get("gad7"), prefix="gad7")  # type: ignore[arg-type]
    if request.method == "POST" and all(
        [
            form.is_valid(),
            *[f.is_complete() if _answered(f) else f.is_valid() for f in (phq9, gad7)],
        ]
    ):
        try:
            services.application_discharge(
                application=application,
                by=user,
                data=form.cleaned_data,
                phq9=phq9.raw_answers() or None,
                gad7=gad7.raw_answers() or None,
            )
        except AnswersInvalid as exc:
            # Which instrument failed is not known here: validate each to place the errors.
            from apps.measures.scoring import score

            for f in (phq9, gad7):
                if f.raw_answers():
                    try:
                        score(f.instrument, f.raw_answers())
                    except AnswersInvalid as inner:
                        f.add_answer_errors(inner)
            if not (phq9.errors or gad7.errors):
                form.add_error(None, exc.errors.get("__all__", str(exc)))
        except ValidationError as exc:
            add_service_errors(form, exc)
        except services.TransitionRefused:
            messages.error(request, _("This patient is no longer admitted. Nothing was changed."))
            return redirect("enrollment:application_detail", application.pk)
        else:
            messages.success(request, _("Discharged."))
            return redirect("enrollment:discharge_summary", application.pk)
    has_errors = bool(form.errors or phq9.errors or gad7.errors)
    return render(
        request,
        "enrollment/discharge.html",
        {
            "application": application,
            "form": form,
            "phq9": phq9,
            "gad7": gad7,
            "continuing_care": continuing_care_sections(request, application.patient),
        },
        status=400 if has_errors else 200,
    )


def _answered(form: InstrumentForm) -> bool:
    """Whether any item of this (optional) instrument was touched in the POST."""
    return any(form.add_prefix(name) in form.data for name in form.fields)


@login_required
def discharge_summary(request: AuthenticatedHttpRequest, application_id: int) -> HttpResponse:
    user = request.user
    application = selectors.application_get_for_viewer(viewer=user, application_id=application_id)
    if application is None or application.status != Status.DISCHARGED:
        raise Http404
    rows = []
    for code in ("phq9", "gad7"):
        # This episode's own questionnaires, not a later application's.
        intake = response_by_ref(
            patient=application.patient, instrument=code, ref=f"application:{application.pk}"
        )
        final = response_by_ref(
            patient=application.patient, instrument=code, ref=f"discharge:{application.pk}"
        )
        rows.append(
            {
                "name": instrument_get(code).short_name,  # type: ignore[union-attr]
                "intake": intake,
                "discharge": final,
                "change": change_summary(
                    code, intake.total if intake else None, final.total if final else None
                ),
            }
        )
    audit_record(
        actor=user, action=AuditAction.VIEW, obj=application.discharge, patient=application.patient
    )
    return render(
        request,
        "enrollment/discharge_summary.html",
        {
            "application": application,
            "discharge": application.discharge,
            "rows": rows,
            "part2_notice": PART2_NOTICE,
            "continuing_care": continuing_care_sections(request, application.patient),
        },
    )


# --- plans -------------------------------------------------------------------------------
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
        form = TreatmentPlanForm(_post(request), initial=initial)
        formset = GoalFormSet(_post(request), initial=goals_initial, prefix="goals")
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
    form = SafetyPlanForm(_post(request), instance=current)
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


# --- releases of information and revocation ----------------------------------------------
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
    form = ReleaseForm(_post(request))
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
    form = SignForm(_post(request) if can_sign else None)
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
    form = RevokeForm(_post(request), initial={"effective_on": today})
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
