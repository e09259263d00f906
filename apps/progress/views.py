"""Thin views: parse input, call one selector or service, render. Access is decided by
``selectors.progress_patient_get_for_viewer`` (404 when refused)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.http import AuthenticatedHttpRequest, patient_required, staff_required
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.params import DATE_SPAN, query_date, query_date_or_none, query_int
from apps.measures.forms import InstrumentForm
from apps.measures.models import SafetyFlag
from apps.measures.scoring import AnswersInvalid
from apps.progress import presentation, selectors, services
from apps.progress.extensions import chart_sections
from apps.progress.forms import CaseloadFilterForm, CheckInForm, checkin_initial


# --- patient --------------------------------------------------------------------------------
@patient_required
@require_http_methods(["GET", "POST"])
def checkin(request: AuthenticatedHttpRequest) -> HttpResponse:
    patient = request.user
    today = selectors.local_today(patient)
    day = today
    if request.method == "GET":
        earliest = today - dt.timedelta(days=selectors.BACKFILL_DAYS)
        day = query_date(request, "day", default=today, earliest=earliest, latest=today)
    existing = selectors.checkin_for_day(patient=patient, day=day)
    if existing is not None:
        audit_record(actor=patient, action=AuditAction.VIEW, obj=existing, patient=patient)
    if request.method == "POST":
        try:
            _saved, created, flags = services.checkin_save(patient=patient, data=request.POST)
        except services.CheckInInvalid as exc:
            form = exc.form
        else:
            if created:
                messages.success(request, _("Thank you. Your check-in is saved."))
            else:
                messages.success(request, _("Your check-in for that day is updated."))
            if any(f.source == "checkin_low_mood" for f in flags):
                messages.warning(
                    request,
                    _(
                        "It sounds like today is very hard. Your care team will reach out. "
                        "If you need help now, call or text 988, or open your crisis plan."
                    ),
                )
            return redirect("progress:mine")
    else:
        form = CheckInForm(initial=checkin_initial(existing, day=day), patient=patient)
        for question in form.questions:
            answer = question.answer_for(patient, day)
            if answer is not None:
                form.initial[question.key] = answer
    return render(
        request,
        "progress/checkin.html",
        {"form": form, "existing": existing, "today": today, "day": day},
        status=400 if form.errors else 200,
    )


@patient_required
@require_GET
def my_progress(request: AuthenticatedHttpRequest) -> HttpResponse:
    patient = request.user
    context = presentation.progress_context(patient=patient, own=True)
    context["due"] = selectors.measures_due(patient=patient)
    context["sections"] = chart_sections(request, patient, audience="patient")
    audit_record(
        actor=patient,
        action=AuditAction.VIEW,
        object_type="progress.summary",
        object_id=patient.pk,
        patient=patient,
        detail="my progress",
    )
    return render(request, "progress/my_progress.html", context)


@patient_required
@require_http_methods(["GET", "POST"])
def measure_take(request: AuthenticatedHttpRequest, code: str) -> HttpResponse:
    patient = request.user
    due = selectors.measure_due_get(patient=patient, code=code)
    if due is None:
        if request.method == "POST":
            # A second submit of the same round: the first one was saved.
            messages.info(request, _("This questionnaire is already done. Thank you."))
            return redirect("progress:mine")
        raise Http404
    form = InstrumentForm(request.POST or None, instrument=due.instrument, prefix=due.code)
    if request.method == "POST" and form.is_valid():
        try:
            response = services.repeat_measure_submit(
                patient=patient, code=due.code, answers=form.raw_answers()
            )
        except AnswersInvalid as exc:
            form.add_answer_errors(exc)
        else:
            messages.success(
                request,
                _("Thank you. Your %(name)s is saved: %(total)s (%(band)s).")
                % {
                    "name": due.instrument.short_name,
                    "total": response.total,
                    "band": response.band_label,
                },
            )
            if any(
                rule.code in response.flags and rule.show_crisis
                for rule in due.instrument.flag_rules
            ):
                messages.warning(
                    request,
                    _(
                        "Your care team will follow up with you today. If you are in danger "
                        "now, call 911; for the Suicide & Crisis Lifeline call or text 988."
                    ),
                )
                return redirect("crisis")
            return redirect("progress:mine")
    return render(
        request,
        "progress/measure.html",
        {"form": form, "due": due, "instrument": due.instrument},
        status=400 if form.errors else 200,
    )


# --- clinicians -----------------------------------------------------------------------------
@login_required
@require_GET
def caseload(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not selectors.is_clinician(user):
        raise Http404

    programs = list(selectors.outcome_programs_for(user=user))
    form = CaseloadFilterForm(request.GET or None, programs=programs)
    params: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        params = {
            "program_id": data["program"],
            "flagged_only": data["flagged"],
            "below_floor_only": data["below_floor"],
            "quiet_days": 3 if data["quiet"] else None,
            "include_closed": data["closed"],
            "search": data["q"],
            "sort": data["sort"] or "flags",
        }
    page_number = request.GET.get("page") or "1"
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="progress.caseload",
        detail=f"caseload page {page_number[:10]}",
    )
    # Never cached: it shows safety flags, which must show on the next page load.
    page = selectors.caseload_page(user=user, page=page_number, **params)
    rows = page.object_list
    table = render_to_string(
        "progress/partials/caseload_table.html",
        {
            "rows": rows,
            "page_obj": page,
            "cells": presentation.caseload_cells(list(rows)),
            "form": form,
            "multi": len(programs) > 1,
        },
        request,
    )
    return render(
        request,
        "progress/caseload.html",
        {"table": table},
        status=400 if request.GET and form.errors else 200,
    )


def _visible_patient(request: AuthenticatedHttpRequest, patient_id: int) -> User:
    patient = selectors.progress_patient_get_for_viewer(viewer=request.user, patient_id=patient_id)
    if patient is None:
        audit_record(
            actor=request.user,
            action=AuditAction.DENIED,
            object_type="progress.summary",
            object_id=patient_id,
        )
        raise Http404
    return patient


@login_required
@require_GET
def patient_chart(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    user = request.user
    if not selectors.is_clinician(user):
        raise Http404
    patient = _visible_patient(request, patient_id)
    context = presentation.progress_context(patient=patient, own=False)
    context.update(
        responses=selectors.responses_with_items(patient=patient),
        flags=list(
            SafetyFlag.objects.filter(patient=patient)
            .select_related("acknowledged_by", "response")
            .order_by("acknowledged_at", "-opened_at")
        ),
        timeline=presentation.timeline(patient=patient),
        checkin_notes=[
            r["checkin"]
            for r in context["checkins"]["rows"]
            if r["checkin"] is not None and (r["checkin"].note or r["checkin"].used_what)
        ],
        due=selectors.measures_due(patient=patient),
        sections=chart_sections(request, patient, audience="staff"),
    )
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="progress.chart",
        object_id=patient.pk,
        patient=patient,
        detail="patient chart",
    )
    return render(request, "progress/patient_chart.html", context)


def _summary_context(request: AuthenticatedHttpRequest, patient: User) -> dict[str, Any]:
    context = presentation.progress_context(patient=patient, own=False)
    checkins = [r["checkin"] for r in context["checkins"]["rows"] if r["checkin"] is not None]
    context.update(
        generated_at=timezone.now(),
        generated_by=request.user,
        checkin_averages=selectors.checkin_averages(checkins),
    )
    return context


@login_required
@require_GET
def summary(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = _visible_patient(request, patient_id)
    context = _summary_context(request, patient)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="progress.summary",
        object_id=patient.pk,
        patient=patient,
        detail="summary html",
    )
    return render(request, "progress/summary.html", context)


@login_required
@require_GET
def summary_pdf(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    from xhtml2pdf import pisa  # about a quarter of a second to import; only the PDF needs it

    patient = _visible_patient(request, patient_id)
    context = _summary_context(request, patient)
    context["pdf"] = True
    html = render_to_string("progress/summary.html", context, request=request)
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if result.err:
        return HttpResponse(_("The PDF could not be made. Use the print view."), status=500)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="progress.summary",
        object_id=patient.pk,
        patient=patient,
        detail="summary pdf",
    )
    response = HttpResponse(out.getvalue(), content_type="application/pdf")
    # An id, never a name, in the file name (no PHI in URLs or downloads' names).
    response["Content-Disposition"] = f'attachment; filename="progress-summary-{patient.pk}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


# --- outcomes -------------------------------------------------------------------------------
def _outcomes(request: AuthenticatedHttpRequest) -> tuple[list[Any], dt.date | None]:
    user = request.user
    # A bad date shows every outcome, as an absent one does (the CSV has no page to warn on).
    today = timezone.localdate()
    since = query_date_or_none(
        request, "since", earliest=today - DATE_SPAN, latest=today + DATE_SPAN
    )
    outcomes = selectors.program_outcomes(
        user=user, program_id=query_int(request, "program", minimum=1), since=since
    )
    return outcomes, since


@staff_required
@require_GET
def outcomes(request: AuthenticatedHttpRequest) -> HttpResponse:
    rows, since = _outcomes(request)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="progress.outcomes",
        detail=f"outcomes ({len(rows)} programs)",
    )
    quarters = selectors.quarterly_outcomes(user=request.user)
    return render(
        request,
        "progress/outcomes.html",
        {"rows": rows, "since": since, "quarters": quarters, "extra_labels": _extra_labels(rows)},
    )


def _extra_labels(rows: list[Any]) -> list[str]:
    return list(rows[0].extra) if rows else []


@staff_required
@require_GET
def outcomes_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    rows, since = _outcomes(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="program-outcomes.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "program",
            "admissions",
            "discharges",
            "completions",
            "completion_rate_pct",
            "mean_phq9_change",
            "phq9_pairs",
            "mean_gad7_change",
            "gad7_pairs",
            "attendance_rate_pct",
            "attendance_records",
            "admitted_since",
            "period",
            "phq9_response_pct",
            "phq9_remission_pct",
            "gad7_response_pct",
            "gad7_remission_pct",
            "median_stay_days",
            *_extra_labels(rows),
        ]
    )
    quarters = selectors.quarterly_outcomes(user=request.user)
    for r in [*rows, *quarters]:
        writer.writerow(
            [
                _csv_safe(r.program.name),
                r.admissions,
                r.discharges,
                r.completions,
                "" if r.completion_rate is None else r.completion_rate,
                "" if r.phq9_change is None else r.phq9_change,
                r.phq9_pairs,
                "" if r.gad7_change is None else r.gad7_change,
                r.gad7_pairs,
                "" if r.attendance_rate is None else r.attendance_rate,
                r.sessions_recorded,
                since.isoformat() if since and not r.period else "",
                r.period or "all",
                *[
                    "" if v is None else v
                    for v in (
                        r.phq9_response_rate,
                        r.phq9_remission_rate,
                        r.gad7_response_rate,
                        r.gad7_remission_rate,
                        r.median_stay_days,
                    )
                ],
                *["" if v is None else _csv_safe(str(v)) for v in r.extra.values()],
            ]
        )
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="progress.outcomes",
        detail=f"outcomes csv ({len(rows)} programs)",
    )
    return response


def _csv_safe(value: str) -> str:
    """Stop spreadsheet formula injection from a program name."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
