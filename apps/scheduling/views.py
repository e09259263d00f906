"""Scheduling pages. Thin: parse, call one selector/service, render. Access is decided by
the selectors; anything a user may not see answers 404."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.http import patient_required, staff_required
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core import fragments, nav
from apps.core.params import query_date
from apps.programs.selectors import programs_for_staff
from apps.scheduling import forms, selectors, services
from apps.scheduling.curriculum import topics_to_lines
from apps.scheduling.extensions import session_sections
from apps.scheduling.ical import calendar_for_user
from apps.scheduling.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    AttendanceStatus,
    CalendarFeed,
    ClinicianAvailability,
    GroupMembership,
    MembershipStatus,
    Session,
)
from apps.scheduling.recurrence import rrule_weekdays, rrule_weekly


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _week_param(request: HttpRequest, today: dt.date) -> dt.date:
    span = dt.timedelta(days=366 * 2)
    day = query_date(request, "week", default=today, earliest=today - span, latest=today + span)
    return selectors.week_start_for(day)


def _errors(exc: services.SchedulingError) -> str:
    return " ".join(exc.messages)


# --- Patient ------------------------------------------------------------------------------


@patient_required
@require_GET
def my_week(request: HttpRequest) -> HttpResponse:
    """The patient's week in their own zone: agenda, what's next (join button), hours."""
    patient = _user(request)
    today = timezone.localdate()
    week_start = _week_param(request, today)
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
        item.attendance = attendance.get(item.obj.pk) if item.kind == "session" else None  # type: ignore[attr-defined]
        item.join_open = item.obj.join_is_open(now)  # type: ignore[attr-defined]
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


def _slot_choices(slots: list[dt.datetime]) -> list[tuple[str, str]]:
    tz = timezone.get_current_timezone()
    return [(s.isoformat(), date_format(timezone.localtime(s, tz), "D j M, H:i")) for s in slots]


@patient_required
@require_http_methods(["GET", "POST"])
def appointment_request(request: HttpRequest) -> HttpResponse:
    """A patient picks a clinician of their program, then one of their open slots."""
    patient = _user(request)
    clinicians = selectors.clinicians_for_patient(patient=patient)
    clinician = None
    raw = request.GET.get("clinician") or request.POST.get("clinician")
    if raw:
        try:
            clinician = clinicians.filter(pk=int(raw)).first()
        except ValueError:
            clinician = None
        if clinician is None:
            raise Http404
    slots: list[dt.datetime] = []
    form = None
    if clinician is not None:
        slots = selectors.open_slots(
            clinician=clinician, patient=patient, start_day=timezone.localdate()
        )
        form = forms.SlotForm(request.POST or None, slots=_slot_choices(slots))
        if request.method == "POST" and form.is_valid():
            start = form.starts_at()
            try:
                services.appointment_book(
                    clinician=clinician,
                    patient=patient,
                    kind=form.cleaned_data["kind"],
                    starts_at=start,
                    ends_at=start + dt.timedelta(minutes=50),
                    by=patient,
                )
            except services.SchedulingError as exc:
                form.add_error(None, _errors(exc))
            else:
                messages.success(
                    request, _("Your request was sent. You will see it confirmed here.")
                )
                return redirect("scheduling:my_week")
    return render(
        request,
        "scheduling/appointment_request.html",
        {"clinicians": clinicians, "clinician": clinician, "form": form, "slots": slots},
    )


@login_required
@require_http_methods(["GET", "POST"])
def appointment_reschedule(request: HttpRequest, appointment_id: int) -> HttpResponse:
    user = _user(request)
    appointment = selectors.appointment_get_for_viewer(user=user, appointment_id=appointment_id)
    if appointment is None:
        raise Http404
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.REQUESTED):
        messages.error(request, _("Only a booked or requested appointment can be moved."))
        return redirect("scheduling:my_week" if user.is_patient else "scheduling:today")
    length = appointment.ends_at - appointment.starts_at
    slots = list(
        selectors.open_slots(
            clinician=appointment.clinician,
            patient=appointment.patient,
            start_day=timezone.localdate(),
            length=length,
        )
    )
    form = forms.SlotForm(request.POST or None, slots=_slot_choices(slots), with_kind=False)
    if request.method == "POST" and form.is_valid():
        try:
            services.appointment_reschedule(
                appointment=appointment, by=user, starts_at=form.starts_at()
            )
        except services.SchedulingError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("The appointment was moved."))
            return redirect("scheduling:my_week" if user.is_patient else "scheduling:today")
    return render(
        request,
        "scheduling/appointment_reschedule.html",
        {"appointment": appointment, "form": form},
    )


@login_required
@require_POST
def appointment_status(request: HttpRequest, appointment_id: int) -> HttpResponse:
    user = _user(request)
    appointment = selectors.appointment_get_for_viewer(user=user, appointment_id=appointment_id)
    if appointment is None:
        raise Http404
    status = request.POST.get("status", "")
    try:
        services.appointment_set_status(
            appointment=appointment, by=user, status=status, reason=request.POST.get("reason", "")
        )
    except services.SchedulingError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, _("Appointment updated."))
    return redirect("scheduling:my_week" if user.is_patient else "scheduling:today")


# --- Clinician ----------------------------------------------------------------------------


@staff_required
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """My sessions and appointments today (in my zone), and appointment requests."""
    user = _user(request)
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


@staff_required
@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    groups = (
        selectors.groups_visible_to(user=user)
        .select_related("program")
        .prefetch_related("facilitators")
        .order_by("program__name", "track", "start_time", "name")
    )
    return render(
        request,
        "scheduling/group_list.html",
        {"groups": groups, "programs": list(programs_for_staff(user=user))},
    )


def _series_from_form(form: forms.GroupSeriesForm) -> services.GroupSeries:
    data = form.cleaned_data
    return services.GroupSeries(
        name=data["name"],
        kind=data["kind"],
        track=data["track"],
        rrule=rrule_weekly([int(d) for d in data["days"]]),
        start_time=data["start_time"],
        duration_minutes=data["duration_minutes"],
        start_date=data["start_date"],
        end_date=data["end_date"],
        capacity=data["capacity"],
        admission=data["admission"],
        curriculum_topics=form.topics(),
        auto_admit_members=data["auto_admit_members"],
    )


@staff_required
@require_http_methods(["GET", "POST"])
def group_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    programs = programs_for_staff(user=user)
    initial: dict[str, Any] = {"start_date": timezone.localdate(), "admission": "open"}
    if programs.count() == 1:
        initial["program"] = programs.first()
    form = forms.GroupSeriesForm(request.POST or None, programs=programs, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(
                program=form.cleaned_data["program"],
                by=user,
                series=_series_from_form(form),
                facilitators=list(form.cleaned_data["facilitators"]),
            )
        except services.SchedulingError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Group created and its sessions scheduled."))
            return redirect("scheduling:group_detail", group_id=group.pk)
    return render(request, "scheduling/group_form.html", {"form": form, "group": None})


@staff_required
@require_http_methods(["GET", "POST"])
def group_edit(request: HttpRequest, group_id: int) -> HttpResponse:
    user = _user(request)
    group = selectors.group_get_for_staff(user=user, group_id=group_id)
    if group is None:
        raise Http404
    programs = programs_for_staff(user=user).filter(pk=group.program_id)
    initial = {
        "program": group.program,
        "name": group.name,
        "kind": group.kind,
        "track": group.track,
        "days": [str(d) for d in rrule_weekdays(group.rrule)],
        "start_time": group.start_time,
        "duration_minutes": group.duration_minutes,
        "start_date": group.start_date,
        "end_date": group.end_date,
        "capacity": group.capacity,
        "admission": group.admission,
        "facilitators": list(group.facilitators.all()),
        "curriculum_topics": topics_to_lines(group.curriculum_topics),
        "auto_admit_members": group.auto_admit_members,
    }
    form = forms.GroupSeriesForm(request.POST or None, programs=programs, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.group_update_series(
                group=group,
                by=user,
                series=_series_from_form(form),
                facilitators=list(form.cleaned_data["facilitators"]),
            )
        except services.SchedulingError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(
                request,
                _("Series updated. Future sessions edited one by one were left as they are."),
            )
            return redirect("scheduling:group_detail", group_id=group.pk)
    return render(request, "scheduling/group_form.html", {"form": form, "group": group})


@staff_required
@require_GET
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    """Roster (members and waitlist), attendance history and upcoming sessions."""
    user = _user(request)
    group = selectors.group_get_for_staff(user=user, group_id=group_id)
    if group is None:
        raise Http404
    now = timezone.now()
    memberships = list(
        GroupMembership.objects.filter(group=group)
        .select_related("patient")
        .order_by("status", "waitlist_position", "patient__full_name")
    )
    active = [m for m in memberships if m.status == MembershipStatus.ACTIVE]
    waitlist = [m for m in memberships if m.status == MembershipStatus.WAITLISTED]
    past = list(Session.objects.filter(group=group, starts_at__lt=now).order_by("-starts_at")[:8])[
        ::-1
    ]
    upcoming = list(
        Session.objects.filter(group=group, ends_at__gte=now)
        .select_related("facilitator")
        .order_by("starts_at")[:10]
    )
    marks: dict[tuple[int, int], Attendance] = {
        (a.patient_id, a.session_id): a for a in Attendance.objects.filter(session__in=past)
    }
    history_patients = sorted(
        {m.patient for m in memberships if m.status != MembershipStatus.WAITLISTED},
        key=lambda u: (u.full_name, u.pk),
    )
    history = [
        {"patient": p, "marks": [marks.get((p.pk, s.pk)) for s in past]} for p in history_patients
    ]
    member_ids = {m.patient_id for m in memberships if m.status != MembershipStatus.ENDED}
    candidates = selectors.patients_for_program(user=user, program=group.program).exclude(
        pk__in=member_ids
    )
    add_form = forms.MemberAddForm(patients=candidates)
    offers = selectors.seat_offers_open_for_group(group=group)
    offered_ids = {o.membership_id for o in offers}
    passed_over = selectors.waitlist_passed_over_ids(group=group)
    for m in waitlist:
        m.has_offer = m.pk in offered_ids  # type: ignore[attr-defined]
        m.passed_over = m.pk in passed_over and not m.has_offer  # type: ignore[attr-defined]
    audit_record(actor=user, action=AuditAction.VIEW, obj=group, detail="roster viewed")
    return render(
        request,
        "scheduling/group_detail.html",
        {
            "group": group,
            "facilitators": list(group.facilitators.all()),
            "active": active,
            "waitlist": waitlist,
            "ended": [m for m in memberships if m.status == MembershipStatus.ENDED],
            "past": past,
            "history": history,
            "upcoming": upcoming,
            "add_form": add_form,
            "cancel_form": forms.CancelForm(),
            "now": now,
            "offers": offers,
            "free_seats": group.capacity - len(active) - len(offers),
        },
    )


@staff_required
@require_POST
def member_add(request: HttpRequest, group_id: int) -> HttpResponse:
    user = _user(request)
    group = selectors.group_get_for_staff(user=user, group_id=group_id)
    if group is None:
        raise Http404
    form = forms.MemberAddForm(
        request.POST, patients=selectors.patients_for_program(user=user, program=group.program)
    )
    if not form.is_valid():
        messages.error(request, _("Choose a patient of this program."))
        return redirect("scheduling:group_detail", group_id=group.pk)
    try:
        membership = services.membership_add(
            group=group,
            patient=form.cleaned_data["patient"],
            by=user,
            waitlist_if_full=form.cleaned_data["waitlist"],
        )
    except services.SchedulingError as exc:
        messages.error(request, _errors(exc))
    else:
        if membership.status == MembershipStatus.WAITLISTED:
            messages.success(
                request,
                _("The group is full: added to the waitlist at position %(n)d.")
                % {"n": membership.waitlist_position},
            )
        else:
            messages.success(
                request, _("Added to the group from %(d)s.") % {"d": membership.from_date}
            )
    return redirect("scheduling:group_detail", group_id=group.pk)


@staff_required
@require_POST
def member_end(request: HttpRequest, membership_id: int) -> HttpResponse:
    user = _user(request)
    membership = (
        GroupMembership.objects.filter(
            pk=membership_id, group__program__in=programs_for_staff(user=user)
        )
        .select_related("group__program", "patient")
        .first()
    )
    if membership is None:
        raise Http404
    try:
        services.membership_end(membership=membership, by=user)
    except services.SchedulingError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, _("Membership ended."))
    return redirect("scheduling:group_detail", group_id=membership.group_id)


# --- Seat offers ---------------------------------------------------------------------------

_STAFF_NEXT = {"today": "scheduling:today", "home": "home"}


@staff_required
@require_POST
def offer_staff_action(request: HttpRequest, offer_id: int, action: str) -> HttpResponse:
    """Confirm a pending seat offer (the patient is told) or skip the patient for it."""
    user = _user(request)
    offer = selectors.seat_offer_get_for_staff(user=user, offer_id=offer_id)
    if offer is None:
        raise Http404
    try:
        if action == "confirm":
            services.seat_offer_confirm(offer=offer, by=user)
            messages.success(
                request, _("Seat offered to %(name)s.") % {"name": offer.patient.full_name}
            )
        else:
            services.seat_offer_skip(offer=offer, by=user)
            messages.success(
                request,
                _("%(name)s was skipped and moved to the back of the waitlist.")
                % {"name": offer.patient.full_name},
            )
    except services.SchedulingError as exc:
        messages.error(request, _errors(exc))
    target = _STAFF_NEXT.get(request.POST.get("next", ""))
    if target:
        return redirect(target)
    return redirect("scheduling:group_detail", group_id=offer.group_id)


@staff_required
@require_POST
def group_offers_fill(request: HttpRequest, group_id: int) -> HttpResponse:
    user = _user(request)
    group = selectors.group_get_for_staff(user=user, group_id=group_id)
    if group is None:
        raise Http404
    try:
        made = services.seat_offers_fill(group=group, by=user)
    except services.SchedulingError as exc:
        messages.error(request, _errors(exc))
    else:
        if made:
            messages.success(request, _("Free seats are ready to offer: confirm each below."))
        else:
            messages.info(request, _("No free seat, or nobody waiting without an offer."))
    return redirect("scheduling:group_detail", group_id=group.pk)


@patient_required
@require_POST
def offer_answer(request: HttpRequest, offer_id: int) -> HttpResponse:
    """The patient accepts or declines a seat offered to them."""
    patient = _user(request)
    offer = selectors.seat_offer_get_for_patient(user=patient, offer_id=offer_id)
    if offer is None:
        raise Http404
    answer = request.POST.get("answer")
    if answer not in ("accept", "decline"):
        return HttpResponseBadRequest(_("Choose accept or decline."))
    try:
        if answer == "accept":
            services.seat_offer_accept(offer=offer, by=patient)
            messages.success(request, _("You have a seat. The group's sessions are on My week."))
        else:
            services.seat_offer_decline(offer=offer, by=patient)
            messages.success(request, _("You declined the seat and left this group's waitlist."))
    except services.SchedulingError as exc:
        messages.error(request, _errors(exc))
    return redirect("home" if request.POST.get("next") == "home" else "scheduling:my_week")


@staff_required
@require_http_methods(["GET", "POST"])
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    """One occurrence: move it, set its topic or cover, or cancel it (series untouched)."""
    user = _user(request)
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
            form.add_error(None, _errors(exc))
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
def session_cancel(request: HttpRequest, session_id: int) -> HttpResponse:
    user = _user(request)
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
            messages.error(request, _errors(exc))
        else:
            messages.success(request, _("Session cancelled. Members will see the reason."))
    if request.POST.get("next") == "group":
        return redirect("scheduling:group_detail", group_id=session.group_id)
    return redirect("scheduling:session_detail", session_id=session.pk)


@staff_required
@require_http_methods(["GET", "POST"])
def session_attendance(request: HttpRequest, session_id: int) -> HttpResponse:
    """Confirm or correct attendance for the whole roster on one screen."""
    user = _user(request)
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


@staff_required
@require_GET
def program_week(request: HttpRequest, program_id: int) -> HttpResponse:
    user = _user(request)
    program = selectors.program_get_for_staff(user=user, program_id=program_id)
    if program is None:
        raise Http404
    today = timezone.now().astimezone(program.time_zone).date()
    week_start = _week_param(request, today)
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


def _hours_rows(request: HttpRequest, program_id: int) -> tuple[Any, Any, dt.date]:
    user = _user(request)
    program = selectors.program_get_for_staff(user=user, program_id=program_id)
    if program is None:
        raise Http404
    today = timezone.now().astimezone(program.time_zone).date()
    week_start = _week_param(request, today)
    patients = selectors.caseload_patients(user=user, program=program)
    if request.GET.get("mine") == "1":
        patients = [p for p in patients if p.patient_profile.primary_clinician_id == user.pk]  # type: ignore[attr-defined]
    rows = selectors.weekly_hours(patients=patients, program=program, week_start=week_start)
    return program, rows, week_start


@staff_required
@require_GET
def program_hours(request: HttpRequest, program_id: int) -> HttpResponse:
    """Caseload table: hours this week against the floor, who is below, days left."""
    program, rows, week_start = _hours_rows(request, program_id)
    if request.GET.get("below") == "1":
        rows = [r for r in rows if r.behind]
    audit_record(actor=_user(request), action=AuditAction.VIEW, obj=program, detail="weekly hours")
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
def program_hours_csv(request: HttpRequest, program_id: int) -> HttpResponse:
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
    audit_record(actor=_user(request), action=AuditAction.EXPORT, obj=program, detail="hours csv")
    return response


def _csv_safe(value: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ is neutralised.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@staff_required
@require_http_methods(["GET", "POST"])
def appointment_book(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    patients = selectors.patients_for_staff(user=user)
    form = forms.AppointmentBookForm(request.POST or None, patients=patients)
    if request.method == "POST" and form.is_valid():
        starts_at, ends_at = form.times()
        try:
            services.appointment_book(
                clinician=user,
                patient=form.cleaned_data["patient"],
                kind=form.cleaned_data["kind"],
                starts_at=starts_at,
                ends_at=ends_at,
                by=user,
            )
        except services.SchedulingError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Appointment booked."))
            return redirect(f"{reverse('scheduling:today')}?day={starts_at.date().isoformat()}")
    return render(request, "scheduling/appointment_book.html", {"form": form})


@staff_required
@require_http_methods(["GET", "POST"])
def availability(request: HttpRequest) -> HttpResponse:
    """Weekly open hours (in my zone) and days away."""
    user = _user(request)
    if not user.is_clinician:
        raise Http404
    windows = list(ClinicianAvailability.objects.filter(clinician=user))
    window_form = forms.AvailabilityWindowForm(prefix="w")
    exception_form = forms.AvailabilityExceptionForm(prefix="x")
    action = request.POST.get("action")
    status = 200
    if request.method == "POST":
        try:
            if action == "add":
                window_form = forms.AvailabilityWindowForm(request.POST, prefix="w")
                if window_form.is_valid():
                    data = window_form.cleaned_data
                    services.availability_set(
                        clinician=user,
                        by=user,
                        windows=[(w.weekday, w.start_time, w.end_time) for w in windows]
                        + [(data["weekday"], data["start_time"], data["end_time"])],
                    )
                    messages.success(request, _("Open hours added."))
                    return redirect("scheduling:availability")
            elif action == "remove":
                try:
                    remove_id = int(request.POST.get("window", ""))
                except ValueError:
                    remove_id = -1
                if not any(w.pk == remove_id for w in windows):
                    raise services.SchedulingError(_("Those open hours no longer exist."))
                services.availability_set(
                    clinician=user,
                    by=user,
                    windows=[
                        (w.weekday, w.start_time, w.end_time) for w in windows if w.pk != remove_id
                    ],
                )
                messages.success(request, _("Open hours removed."))
                return redirect("scheduling:availability")
            elif action == "away":
                exception_form = forms.AvailabilityExceptionForm(request.POST, prefix="x")
                if exception_form.is_valid():
                    data = exception_form.cleaned_data
                    services.availability_exception_add(
                        clinician=user,
                        by=user,
                        date=data["date"],
                        start_time=data["start_time"],
                        end_time=data["end_time"],
                        reason=data["reason"],
                    )
                    messages.success(request, _("Time away added."))
                    return redirect("scheduling:availability")
            else:
                return HttpResponseBadRequest(_("Unknown action."))
        except services.SchedulingError as exc:
            messages.error(request, _errors(exc))
        status = 400
    exceptions = user.availability_exceptions.filter(date__gte=timezone.localdate())  # type: ignore[attr-defined]
    return render(
        request,
        "scheduling/availability.html",
        {
            "windows": windows,
            "exceptions": exceptions,
            "window_form": window_form,
            "exception_form": exception_form,
        },
        status=status,
    )


# --- Calendar feed ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def calendar_settings(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "rotate":
            services.calendar_feed_rotate(user=user)
            messages.success(request, _("New calendar link made. The old link no longer works."))
        elif action == "revoke":
            services.calendar_feed_revoke(user=user)
            messages.success(request, _("Calendar link turned off."))
        else:
            return HttpResponseBadRequest(_("Unknown action."))
        return redirect("scheduling:calendar")
    feed = CalendarFeed.objects.filter(user=user).first()
    url = (
        request.build_absolute_uri(reverse("scheduling:feed", args=[feed.token])) if feed else None
    )
    return render(request, "scheduling/calendar.html", {"feed": feed, "feed_url": url})


@never_cache
@require_GET
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The private iCalendar feed. The token is the credential; unknown tokens get 404."""
    user = selectors.calendar_feed_user(token=token)
    if user is None:
        raise Http404
    CalendarFeed.objects.filter(token=token).update(last_fetched_at=timezone.now())
    body = calendar_for_user(user=user)
    audit_record(
        actor=user,
        action=AuditAction.EXPORT,
        object_type="scheduling.calendarfeed",
        object_id=user.pk,
        patient=user if user.is_patient else None,
        detail="ics feed",
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="schedule.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response
