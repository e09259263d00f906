"""Admin for scheduling. Writes that carry rules (cancelling, ending memberships, series
changes) go through the services, so capacity, waitlists and notices behave as on the site."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from apps.scheduling import services
from apps.scheduling.curriculum import module_slugs, topics_clean
from apps.scheduling.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    AvailabilityException,
    CalendarFeed,
    ClinicianAvailability,
    Group,
    GroupMembership,
    MembershipStatus,
    SeatOffer,
    Session,
    SessionStatus,
)


class _DryRun(Exception):
    """Raised to roll a trial run of a service back."""


def _dry_run_error(attempt: Callable[[], object]) -> str | None:
    """Run a service in a savepoint and undo it: the error message it would give, or None.
    Admin forms validate through the same services the site uses (capacity, the clash
    checks), so an overlapping facilitator or member is a form error here too, never a 500."""
    try:
        with transaction.atomic():
            attempt()
            raise _DryRun
    except _DryRun:
        return None
    except services.SchedulingError as exc:
        return " ".join(exc.messages)


class GroupAdminForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = [
            "program",
            "name",
            "kind",
            "description",
            "curriculum_topics",
            "facilitators",
            "capacity",
            "admission",
            "track",
            "rrule",
            "start_time",
            "duration_minutes",
            "start_date",
            "end_date",
            "auto_admit_members",
        ]
        # In the form, not the model, so the text needs no migration.
        help_texts = {
            "curriculum_topics": _(
                'Topics in order, e.g. [{"title": "Urge surfing", "module": "urge-surfing"}]. '
                '"module" is optional: the homework module suggested after that session.'
            )
        }

    def clean_curriculum_topics(self) -> list[dict[str, str]]:
        # Stored normalised ({"title", "module"} objects); module slugs must name a module.
        try:
            return topics_clean(
                self.cleaned_data.get("curriculum_topics"), known_modules=module_slugs()
            )
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        facilitators = data.get("facilitators")
        if facilitators is not None and not 1 <= len(facilitators) <= 2:
            self.add_error("facilitators", _("A group has one or two facilitators."))
        capacity = data.get("capacity")
        if self.instance.pk and capacity is not None:
            active = self.instance.memberships.filter(status=MembershipStatus.ACTIVE).count()
            if capacity < active:
                self.add_error(
                    "capacity",
                    _("Capacity cannot be below the current membership (%(n)d members).")
                    % {"n": active},
                )
        if not self.errors:
            error = _dry_run_error(self._trial)
            if error:
                self.add_error(None, error)
        return data

    def _trial(self) -> object:
        data = self.cleaned_data
        series = services.GroupSeries(
            name=data["name"],
            kind=data["kind"],
            track=data["track"],
            rrule=data["rrule"],
            start_time=data["start_time"],
            duration_minutes=data["duration_minutes"],
            start_date=data["start_date"],
            end_date=data.get("end_date"),
            capacity=data["capacity"],
            admission=data["admission"],
            curriculum_topics=data.get("curriculum_topics") or [],
            auto_admit_members=data.get("auto_admit_members", True),
            description=data.get("description", ""),
        )
        facilitators = list(data["facilitators"])
        if self.instance.pk:
            return services.group_update_series(
                group=self.instance, by=None, series=series, facilitators=facilitators
            )
        return services.group_create(
            program=data["program"], by=None, series=series, facilitators=facilitators
        )


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    form = GroupAdminForm
    list_display = ("name", "program", "kind", "track", "start_time", "capacity", "admission")
    list_filter = ("program", "track", "kind", "admission")
    search_fields = ("name",)
    filter_horizontal = ("facilitators",)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        group = form.instance
        if change:
            # Series edit: future, unmodified sessions follow; edited ones are left alone.
            series = services.GroupSeries(
                name=group.name,
                kind=group.kind,
                track=group.track,
                rrule=group.rrule,
                start_time=group.start_time,
                duration_minutes=group.duration_minutes,
                start_date=group.start_date,
                end_date=group.end_date,
                capacity=group.capacity,
                admission=group.admission,
                curriculum_topics=group.curriculum_topics,
                auto_admit_members=group.auto_admit_members,
                description=group.description,
            )
            services.group_update_series(group=group, by=request.user, series=series)  # type: ignore[arg-type]
        else:
            services.sessions_generate(group=group)


class CancelReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason patients will see"),
        max_length=200,
        help_text=_("For example: Clinic closed for Thanksgiving. No clinical detail."),
    )


def _cancel_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Session],
    *,
    whole_day: bool,
) -> HttpResponse | None:
    if whole_day:
        days = {(s.group.program_id, s.occurrence_date) for s in queryset.select_related("group")}
        sessions = Session.objects.none()
        for program_id, day in days:
            sessions = sessions | Session.objects.filter(
                group__program_id=program_id, occurrence_date=day
            )
        queryset = sessions
    targets = list(
        queryset.filter(status=SessionStatus.SCHEDULED)
        .select_related("group__program")
        .order_by("starts_at")
    )
    if "apply" in request.POST:
        form = CancelReasonForm(request.POST)
        if form.is_valid():
            try:
                count = services.sessions_cancel_many(
                    sessions=targets,
                    by=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                )
            except services.SchedulingError as exc:
                modeladmin.message_user(request, " ".join(exc.messages), messages.ERROR)
                return None
            modeladmin.message_user(
                request, _("%(n)d sessions cancelled; members will see the reason.") % {"n": count}
            )
            return None
    else:
        form = CancelReasonForm()
    return render(
        request,
        "scheduling/admin_cancel.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": _("Cancel sessions"),
            "form": form,
            "targets": targets,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action": request.POST.get("action"),
            "opts": modeladmin.model._meta,
        },
    )


@admin.action(description=_("Cancel selected sessions (with a reason patients see)"))
def cancel_selected(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Session]
) -> HttpResponse | None:
    return _cancel_with_reason(modeladmin, request, queryset, whole_day=False)


@admin.action(description=_("Cancel a day: every session of the program on the selected days"))
def cancel_day(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Session]
) -> HttpResponse | None:
    return _cancel_with_reason(modeladmin, request, queryset, whole_day=True)


class SessionAdminForm(forms.ModelForm):
    class Meta:
        model = Session
        fields = ["group", "starts_at", "ends_at", "facilitator", "topic"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and self.instance.pk:
            error = _dry_run_error(self._trial)
            if error:
                self.add_error(None, error)
        return data

    def _trial(self) -> object:
        # A scheduled occurrence whose time or cover changes: the facilitators who would run
        # it must be free then (session_update runs the clash check).
        session = Session.objects.get(pk=self.instance.pk)
        if session.status != SessionStatus.SCHEDULED:
            return None
        data = self.cleaned_data
        starts_at = data.get("starts_at", session.starts_at)
        ends_at = data.get("ends_at", session.ends_at)
        moved = (starts_at, ends_at) != (session.starts_at, session.ends_at)
        return services.session_update(
            session=session,
            by=None,
            starts_at=starts_at if moved else None,
            ends_at=ends_at if moved else None,
            facilitator=data.get("facilitator"),
        )


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    form = SessionAdminForm
    list_display = ("group", "starts_at", "ends_at", "status", "is_modified", "facilitator")
    list_filter = ("status", "group__program", "group__track", "is_modified")
    date_hierarchy = "starts_at"
    search_fields = ("group__name",)
    raw_id_fields = ("group", "facilitator")
    actions = [cancel_selected, cancel_day]
    readonly_fields = ("status", "cancel_reason", "occurrence_date", "is_modified")

    def save_model(self, request: HttpRequest, obj: Session, form: Any, change: bool) -> None:
        if change:
            obj.is_modified = True  # edited on its own: series edits leave it alone
        super().save_model(request, obj, form, change)


@admin.action(description=_("End selected memberships today (frees seats for the waitlist)"))
def end_memberships(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[GroupMembership]
) -> None:
    count = 0
    for membership in queryset.exclude(status=MembershipStatus.ENDED).select_related(
        "group__program"
    ):
        services.membership_end(membership=membership, by=request.user)  # type: ignore[arg-type]
        count += 1
    modeladmin.message_user(request, _("%(n)d memberships ended.") % {"n": count})


class GroupMembershipAdminForm(forms.ModelForm):
    waitlist_if_full = forms.BooleanField(
        label=_("Put on the waitlist if the group is full"), required=False
    )

    class Meta:
        model = GroupMembership
        fields = ["group", "patient", "from_date", "to_date"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not self.instance.pk:
            error = _dry_run_error(self._trial)
            if error:
                self.add_error(None, error)
        return data

    def _trial(self) -> object:
        data = self.cleaned_data
        return services.membership_add(
            group=data["group"],
            patient=data["patient"],
            by=None,
            waitlist_if_full=data.get("waitlist_if_full", False),
            from_date=data.get("from_date"),
        )


@admin.register(GroupMembership)
class GroupMembershipAdmin(admin.ModelAdmin):
    form = GroupMembershipAdminForm
    list_display = ("patient", "group", "status", "waitlist_position", "from_date", "to_date")
    list_filter = ("status", "group__program", "group")
    search_fields = ("group__name", "patient__email")
    raw_id_fields = ("patient", "group", "added_by")
    actions = [end_memberships]
    readonly_fields = ("status", "waitlist_position", "added_by")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            # Seats are given through membership_add: capacity, waitlist and clash checks.
            return ["group", "patient", "from_date", "waitlist_if_full"]
        return ["group", "patient", "from_date", "to_date", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        # Moving a seat to another group or person would skip every check: end it instead.
        return ("group", "patient", *self.readonly_fields)

    def save_model(
        self, request: HttpRequest, obj: GroupMembership, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        membership = services.membership_add(
            group=obj.group,
            patient=obj.patient,
            by=request.user,  # type: ignore[arg-type]
            waitlist_if_full=form.cleaned_data.get("waitlist_if_full", False),
            from_date=obj.from_date,
        )
        obj.pk = membership.pk
        obj.status = membership.status
        obj.waitlist_position = membership.waitlist_position
        obj.from_date = membership.from_date
        obj._state.adding = False


@admin.register(SeatOffer)
class SeatOfferAdmin(admin.ModelAdmin):
    """History of seat offers. Offers are made, confirmed and answered on the site."""

    list_display = ("group", "patient", "status", "created_at", "expires_at", "closed_at")
    list_filter = ("status", "group__program")
    search_fields = ("group__name", "patient__email")
    readonly_fields = [f.name for f in SeatOffer._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.action(description=_("Cancel selected appointments"))
def cancel_appointments(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Appointment]
) -> None:
    count = 0
    for appointment in queryset.filter(
        status__in=[AppointmentStatus.BOOKED, AppointmentStatus.REQUESTED]
    ):
        services.appointment_set_status(
            appointment=appointment,
            by=request.user,  # type: ignore[arg-type]
            status=AppointmentStatus.CANCELLED,
            reason="Cancelled by the clinic",
        )
        count += 1
    modeladmin.message_user(request, _("%(n)d appointments cancelled.") % {"n": count})


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ("starts_at", "kind", "clinician", "patient", "status")
    list_filter = ("status", "kind", "program")
    date_hierarchy = "starts_at"
    raw_id_fields = ("clinician", "patient", "created_by")
    actions = [cancel_appointments]


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    list_display = ("session", "patient", "status", "minutes", "source")
    list_filter = ("status", "source")
    raw_id_fields = ("session", "patient", "confirmed_by")
    readonly_fields = ("presence", "first_joined_at", "last_left_at")


@admin.register(ClinicianAvailability)
class ClinicianAvailabilityAdmin(admin.ModelAdmin):
    list_display = ("clinician", "weekday", "start_time", "end_time")
    list_filter = ("weekday",)
    raw_id_fields = ("clinician",)


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(admin.ModelAdmin):
    list_display = ("clinician", "date", "start_time", "end_time", "reason")
    raw_id_fields = ("clinician",)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "rotated_at", "last_fetched_at")
    exclude = ("token",)  # a secret: never displayed
    readonly_fields = ("user", "created_at", "rotated_at", "last_fetched_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
