"""Program pages for staff: the week's sessions and weekly hours (page and CSV)."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.http import AuthenticatedHttpRequest, staff_required
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.scheduling import selectors
from apps.scheduling.views.common import week_param


@staff_required
@require_GET
def program_week(request: AuthenticatedHttpRequest, program_id: int) -> HttpResponse:
    user = request.user
    program = selectors.program_get_for_staff(user=user, program_id=program_id)
    if program is None:
        raise Http404
    today = timezone.now().astimezone(program.time_zone).date()
    week_start = week_param(request, today)
    week = selectors.program_week(program=program, week_start=week_start)
    return render(
        request,
        "scheduling/program_week.html",
        {
            "program": program,
            "week": week,
            "week_start": week_start,
            "prev_week": week_start - dt.timedelta(days=7),
            "next_week": week_start + dt.timedelta(days=7),
            "today": today,
        },
    )


def _hours_rows(request: AuthenticatedHttpRequest, program_id: int) -> tuple[Any, Any, dt.date]:
    user = request.user
    program = selectors.program_get_for_staff(user=user, program_id=program_id)
    if program is None:
        raise Http404
    today = timezone.now().astimezone(program.time_zone).date()
    week_start = week_param(request, today)
    patients = selectors.caseload_patients(user=user, program=program)
    if request.GET.get("mine") == "1":
        patients = [p for p in patients if p.patient_profile.primary_clinician_id == user.pk]  # type: ignore[attr-defined]
    rows = selectors.weekly_hours(patients=patients, program=program, week_start=week_start)
    return program, rows, week_start


@staff_required
@require_GET
def program_hours(request: AuthenticatedHttpRequest, program_id: int) -> HttpResponse:
    """Caseload table: hours this week against the floor, who is below, days left."""
    program, rows, week_start = _hours_rows(request, program_id)
    if request.GET.get("below") == "1":
        rows = [r for r in rows if r.behind]
    audit_record(actor=request.user, action=AuditAction.VIEW, obj=program, detail="weekly hours")
    return render(
        request,
        "scheduling/program_hours.html",
        {
            "program": program,
            "rows": rows,
            "week_start": week_start,
            "week_end": week_start + dt.timedelta(days=6),
            "prev_week": week_start - dt.timedelta(days=7),
            "next_week": week_start + dt.timedelta(days=7),
        },
    )


@staff_required
@require_GET
def program_hours_csv(request: AuthenticatedHttpRequest, program_id: int) -> HttpResponse:
    """The week's hours per patient for billing staff."""
    program, rows, week_start = _hours_rows(request, program_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="hours-program{program.pk}-{week_start.isoformat()}.csv"'
    )
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    writer.writerow(
        [
            "patient_id",
            "patient",
            "week_start",
            "hours",
            "days_attended",
            "floor_hours",
            "meets_floor",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row.patient.pk,
                _csv_safe(row.patient.full_name),
                week_start.isoformat(),
                f"{row.minutes / 60:.2f}",
                row.days,
                f"{row.floor_minutes / 60:.1f}",
                "no" if row.below_floor else "yes",
            ]
        )
    audit_record(actor=request.user, action=AuditAction.EXPORT, obj=program, detail="hours csv")
    return response


def _csv_safe(value: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ is neutralised.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
