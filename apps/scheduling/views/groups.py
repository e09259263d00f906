"""Groups: the list, create and edit a series, the roster, add and end members."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, staff_required
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.programs.selectors import programs_for_staff
from apps.scheduling import forms, selectors, services
from apps.scheduling.curriculum import topics_to_lines
from apps.scheduling.models import Attendance, GroupMembership, MembershipStatus, Session
from apps.scheduling.recurrence import rrule_weekdays, rrule_weekly
from apps.scheduling.views.common import error_text


@staff_required
@require_GET
def group_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
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
def group_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
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
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, _("Group created and its sessions scheduled."))
            return redirect("scheduling:group_detail", group_id=group.pk)
    return render(request, "scheduling/group_form.html", {"form": form, "group": None})


@staff_required
@require_http_methods(["GET", "POST"])
def group_edit(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    user = request.user
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
            form.add_error(None, error_text(exc))
        else:
            messages.success(
                request,
                _("Series updated. Future sessions edited one by one were left as they are."),
            )
            return redirect("scheduling:group_detail", group_id=group.pk)
    return render(request, "scheduling/group_form.html", {"form": form, "group": group})


@staff_required
@require_GET
def group_detail(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    """Roster (members and waitlist), attendance history and upcoming sessions."""
    user = request.user
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
def member_add(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    user = request.user
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
        messages.error(request, error_text(exc))
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
def member_end(request: AuthenticatedHttpRequest, membership_id: int) -> HttpResponse:
    user = request.user
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
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Membership ended."))
    return redirect("scheduling:group_detail", group_id=membership.group_id)
