"""Staff: the application queue, the decision on one application, discharge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, staff_required
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.forms import add_service_errors
from apps.core.params import query_int
from apps.enrollment import selectors, services
from apps.enrollment.extensions import continuing_care_sections
from apps.enrollment.forms import (
    AdmitForm,
    DischargeForm,
    ReferForm,
    ScheduleIntakeForm,
    WaitlistForm,
)
from apps.enrollment.models import PART2_NOTICE, Application, Insurance, Status
from apps.enrollment.views.common import post_or_none
from apps.measures.forms import InstrumentForm
from apps.measures.models import SafetyFlag
from apps.measures.registry import instrument_get
from apps.measures.scoring import AnswersInvalid, change_summary, score
from apps.measures.selectors import response_by_ref
from apps.programs.selectors import programs_for_staff


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
    form = DischargeForm(post_or_none(request))
    phq9 = InstrumentForm(post_or_none(request), instrument=instrument_get("phq9"), prefix="phq9")  # type: ignore[arg-type]
    gad7 = InstrumentForm(post_or_none(request), instrument=instrument_get("gad7"), prefix="gad7")  # type: ignore[arg-type]
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
