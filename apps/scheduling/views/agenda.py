"""The two daily pages: a patient's week and a clinician's today."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.http import AuthenticatedHttpRequest, patient_required, staff_required
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core import fragments, nav
from apps.core.params import query_date
from apps.programs.selectors import programs_for_staff
from apps.scheduling import selectors
from apps.scheduling.models import Appointment, AppointmentStatus, Attendance
from apps.scheduling.views.common import week_param


@patient_required
@require_GET
def my_week(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The patient's week in their own zone: agenda, what's next (join button), hours."""
    patient = request.user
    today = timezone.localdate()
    week_start = week_param(request, today)
    # The audit event is written on every view, cached or not.
    audit_record(
        actor=patient, action=AuditAction.VIEW, object_type="scheduling.week", patient=patient
    )
    body = fragments.cached(
        request,
        "scheduling:my_week",
        scopes=_week_scopes(patient),
        vary=[today, week_start],
        render=lambda: fragments.render_fragment(
            "scheduling/partials/my_week_body.html",
            _my_week_context(patient, today=today, week_start=week_start),
            request,
        ),
    )
    # Offers change by the minute (they expire): never cached.
    offers = selectors.seat_offers_for_patient(patient=patient, now=timezone.now())
    return render(request, "scheduling/my_week.html", {"body": body, "offers": offers})


def _week_scopes(user: User) -> list[str]:
    """What a patient's week depends on: their seats, appointments and attendance (rows that
    point at them), and the shared sessions, groups and program rules."""
    return [
        fragments.user_scope(user),
        "scheduling.session",
        "scheduling.group",
        "programs.program",
    ]


def _my_week_context(patient: User, *, today: dt.date, week_start: dt.date) -> dict[str, Any]:
    now = timezone.now()
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(week_start, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=7)
    items = selectors.agenda_for_patient(patient=patient, start=start, end=end)
    attendance = {
        a.session_id: a
        for a in Attendance.objects.filter(
            patient=patient, session__starts_at__gte=start, session__starts_at__lt=end
        )
    }
    days: dict[dt.date, list[Any]] = {week_start + dt.timedelta(days=i): [] for i in range(7)}
    for item in items:
        item.attendance = attendance.get(item.obj.pk) if item.kind == "session" else None
        item.join_open = item.obj.join_is_open(now)
        days.setdefault(item.starts_at.astimezone(tz).date(), []).append(item)
    upcoming = selectors.upcoming_for_patient(patient=patient, now=now, limit=1)
    next_item = upcoming[0] if upcoming else None
    program = getattr(getattr(patient, "patient_profile", None), "program", None)
    hours = None
    if program is not None:
        program_week_start = selectors.week_start_for(now.astimezone(program.time_zone).date())
        if week_start == selectors.week_start_for(today):
            hours = selectors.weekly_hours(
                patients=[patient], program=program, week_start=program_week_start, now=now
            )[0]
    return {
        "days": sorted(days.items()),
        "week_start": week_start,
        "prev_week": week_start - dt.timedelta(days=7),
        "next_week": week_start + dt.timedelta(days=7),
        "today": today,
        "next_item": next_item,
        "hours": hours,
        "now": now,
    }


@staff_required
@require_GET
def today(request: AuthenticatedHttpRequest) -> HttpResponse:
    """My sessions and appointments today (in my zone), and appointment requests."""
    user = request.user
    today_local = timezone.localdate()
    day = query_date(request, "day", default=today_local)
    audit_record(actor=user, action=AuditAction.VIEW, object_type="scheduling.today")
    body = render_to_string(
        "scheduling/partials/today_body.html", _today_context(user, day=day), request
    )
    # Apps above scheduling add cards here (charting: notes due) as panels for the "today" slot.
    panels = nav.panels_for("today", request)
    return render(request, "scheduling/today.html", {"day": day, "body": body, "panels": panels})


def _today_context(user: User, *, day: dt.date) -> dict[str, Any]:
    tz = timezone.get_current_timezone()
    now = timezone.now()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=1)
    sessions = list(selectors.sessions_for_clinician(clinician=user, start=start, end=end))
    appointments = list(selectors.appointments_for_clinician(clinician=user, start=start, end=end))
    requests = list(
        Appointment.objects.filter(
            clinician=user, status=AppointmentStatus.REQUESTED, starts_at__gte=now
        )
        .select_related("patient")
        .order_by("starts_at")[:20]
    )
    for session in sessions:
        session.join_open = session.join_is_open(now)  # type: ignore[attr-defined]
    return {
        "day": day,
        "prev_day": day - dt.timedelta(days=1),
        "next_day": day + dt.timedelta(days=1),
        "sessions": sessions,
        "appointments": appointments,
        "requests": requests,
        "programs": list(programs_for_staff(user=user)),
        "now": now,
    }
