"""One occurrence: edit, cancel, confirm attendance."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, staff_required
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.scheduling import forms, selectors, services
from apps.scheduling.extensions import session_sections
from apps.scheduling.models import Attendance, AttendanceStatus
from apps.scheduling.views.common import error_text


@staff_required
@require_http_methods(["GET", "POST"])
def session_detail(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    """One occurrence: move it, set its topic or cover, or cancel it (series untouched)."""
    user = request.user
    session = selectors.session_get_for_staff(user=user, session_id=session_id)
    if session is None:
        raise Http404
    tz = timezone.get_current_timezone()
    clinicians = User.objects.filter(
        role="clinician", program_staff__program=session.group.program, is_active=True
    )
    local_start, local_end = session.starts_at.astimezone(tz), session.ends_at.astimezone(tz)
    form = forms.SessionEditForm(
        request.POST or None,
        clinicians=clinicians,
        initial={
            "date": local_start.date(),
            "start_time": local_start.time(),
            "end_time": local_end.time(),
            "topic": session.topic,
            "facilitator": session.facilitator,
        },
    )
    if request.method == "POST" and form.is_valid():
        starts_at, ends_at = form.times()
        moved = (starts_at, ends_at) != (session.starts_at, session.ends_at)
        try:
            services.session_update(
                session=session,
                by=user,
                starts_at=starts_at if moved else None,
                ends_at=ends_at if moved else None,
                topic=form.cleaned_data["topic"],
                facilitator=form.cleaned_data["facilitator"],
            )
        except services.SchedulingError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, _("This session was changed; the series is unchanged."))
            return redirect("scheduling:session_detail", session_id=session.pk)
    return render(
        request,
        "scheduling/session_detail.html",
        {
            "session": session,
            "form": form,
            "cancel_form": forms.CancelForm(),
            "sections": session_sections(request, session),
        },
    )


@staff_required
@require_POST
def session_cancel(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    user = request.user
    session = selectors.session_get_for_staff(user=user, session_id=session_id)
    if session is None:
        raise Http404
    form = forms.CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason patients will see (up to 200 characters)."))
    else:
        try:
            services.session_cancel(session=session, by=user, reason=form.cleaned_data["reason"])
        except services.SchedulingError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("Session cancelled. Members will see the reason."))
    if request.POST.get("next") == "group":
        return redirect("scheduling:group_detail", group_id=session.group_id)
    return redirect("scheduling:session_detail", session_id=session.pk)


@staff_required
@require_http_methods(["GET", "POST"])
def session_attendance(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    """Confirm or correct attendance for the whole roster on one screen."""
    user = request.user
    session = selectors.session_get_for_staff(user=user, session_id=session_id)
    if session is None:
        raise Http404
    roster = selectors.session_roster(session=session)
    existing = {a.patient_id: a for a in Attendance.objects.filter(session=session)}
    errors: list[str] = []
    if request.method == "POST":
        rows, errors = forms.parse_roster_post(
            request.POST, [p.pk for p in roster], session.duration_minutes
        )
        if not errors:
            try:
                services.attendance_confirm_roster(
                    session=session,
                    by=user,
                    entries=[services.AttendanceEntry(pid, st, mins) for pid, st, mins in rows],
                )
            except services.SchedulingError as exc:
                errors = list(exc.messages)
            else:
                messages.success(request, _("Attendance confirmed."))
                return redirect("scheduling:group_detail", group_id=session.group_id)
    lines = []
    for patient in roster:
        att = existing.get(patient.pk)
        status = request.POST.get(f"status_{patient.pk}") if errors else None
        minutes = request.POST.get(f"minutes_{patient.pk}") if errors else None
        lines.append(
            {
                "patient": patient,
                "attendance": att,
                "status": status or (att.status if att else AttendanceStatus.ABSENT),
                "minutes": minutes if minutes is not None else (att.minutes if att else 0),
            }
        )
    audit_record(actor=user, action=AuditAction.VIEW, obj=session, detail="attendance viewed")
    return render(
        request,
        "scheduling/session_attendance.html",
        {
            "session": session,
            "lines": lines,
            "errors": errors,
            "choices": forms.ATTENDANCE_CHOICES,
            "status": 400 if errors else 200,
        },
        status=400 if errors else 200,
    )
