"""Groups and their sessions, memberships, individual appointments, availability and
attendance.

Times: a ``Session``/``Appointment`` is stored in UTC. A group's recurrence (RRULE, start
time, duration) is wall-clock time in ``group.program.time_zone``, so a 18:00 group stays at
18:00 local across daylight-saving changes (services.sessions_generate does the maths).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.scheduling.curriculum import module_slugs, topics_clean
from apps.scheduling.recurrence import RecurrenceError, rrule_describe, rrule_validate

# A patient may open a session's room this long before it starts.
JOIN_OPENS_BEFORE = dt.timedelta(minutes=15)
# A video visit stays open this long after its booked end (visits run over).
VISIT_CLOSES_AFTER = dt.timedelta(minutes=30)


class GroupKind(models.TextChoices):
    PROCESS = "process", _("Process group")
    SKILLS = "skills", _("Skills group")
    PSYCHOEDUCATION = "psychoeducation", _("Psychoeducation")
    RELAPSE_PREVENTION = "relapse_prevention", _("Relapse prevention")
    FAMILY = "family", _("Family group")
    OTHER = "other", _("Other")


class Track(models.TextChoices):
    MORNING = "morning", _("Morning")
    EVENING = "evening", _("Evening")
    WEEKEND = "weekend", _("Weekend")


class Admission(models.TextChoices):
    # Rolling admission: members join any week and get every future session.
    OPEN = "open", _("Open (rolling admission)")
    # A cohort with a fixed start.
    CLOSED = "closed", _("Closed (fixed cohort)")


class Group(models.Model):
    """A recurring group (SAMHSA TIP 41: 6-12 members with 1-2 therapists)."""

    program = models.ForeignKey(
        "programs.Program",
        on_delete=models.PROTECT,
        related_name="groups",
        # Indexed by group_unique_name, which leads with it.
        db_index=False,
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=24, choices=GroupKind.choices)
    description = models.TextField(_("description"), blank=True)
    # Ordered topics the sessions rotate through: [{"title": ..., "module": "<slug>"}], plain
    # strings read as titles (apps.scheduling.curriculum). Homework resolves the slugs.
    curriculum_topics = models.JSONField(_("curriculum topics"), default=list, blank=True)
    facilitators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="facilitated_groups",
        limit_choices_to={"role": "clinician"},
        verbose_name=_("facilitators"),
    )
    capacity = models.PositiveSmallIntegerField(
        _("capacity"), default=12, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    admission = models.CharField(
        _("admission"), max_length=8, choices=Admission.choices, default=Admission.OPEN
    )
    track = models.CharField(_("track"), max_length=8, choices=Track.choices)
    # RFC 5545 recurrence rule without DTSTART, e.g. "FREQ=WEEKLY;BYDAY=MO,WE,TH".
    rrule = models.CharField(_("recurrence rule"), max_length=200)
    start_time = models.TimeField(_("start time"), help_text=_("In the program's time zone."))
    duration_minutes = models.PositiveSmallIntegerField(
        _("duration (minutes)"),
        default=180,
        validators=[MinValueValidator(15), MaxValueValidator(600)],
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    # For the live room lobby: members enter without a facilitator admitting them.
    auto_admit_members = models.BooleanField(_("admit members automatically"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["program", "start_time", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__gte=1) & Q(capacity__lte=50), name="group_capacity_range"
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=15), name="group_duration_positive"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="group_end_after_start",
            ),
            models.UniqueConstraint(fields=["program", "name"], name="group_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.duration_minutes)

    @property
    def days_text(self) -> str:
        """The recurrence in words ("Mondays, Tuesdays and Thursdays"), not RFC 5545."""
        return rrule_describe(self.rrule)

    @property
    def end_time(self) -> dt.time:
        start = dt.datetime.combine(dt.date(2000, 1, 3), self.start_time)
        return (start + self.duration).time()

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.end_date and self.start_date and self.end_date < self.start_date:
            errors["end_date"] = _("The end date is before the start date.")
        try:
            rrule_validate(self.rrule)
        except RecurrenceError as exc:
            errors["rrule"] = str(exc)
        try:
            topics_clean(self.curriculum_topics, known_modules=module_slugs())
        except ValidationError as exc:
            errors["curriculum_topics"] = exc.messages
        if errors:
            raise ValidationError(errors)


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    CANCELLED = "cancelled", _("Cancelled")
    COMPLETED = "completed", _("Completed")


class Session(models.Model):
    """One occurrence of a group. Generated ahead over a rolling horizon."""

    group = models.ForeignKey(
        Group,
        on_delete=models.CASCADE,
        related_name="sessions",
        # Indexed by session_unique_occurrence, which leads with it.
        db_index=False,
    )
    # The occurrence's date in the program's zone, as the series produced it. Unique per
    # group: what makes generation idempotent; also the date memberships are checked on.
    occurrence_date = models.DateField(_("occurrence date"))
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"), max_length=10, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    cancel_reason = models.CharField(
        _("cancellation reason"),
        max_length=200,
        blank=True,
        help_text=_("Shown to patients. No clinical detail."),
    )
    facilitator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="facilitated_sessions",
        limit_choices_to={"role": "clinician"},
        help_text=_("Covers for the group's facilitators for this occurrence only."),
    )
    topic = models.CharField(_("topic"), max_length=200, blank=True)
    # Set when this one occurrence was moved, cancelled or edited on its own: series edits
    # then leave it alone.
    is_modified = models.BooleanField(_("edited individually"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "occurrence_date"], name="session_unique_occurrence"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="session_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(cancel_reason=""),
                name="session_cancel_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["group", "starts_at"], name="session_group_start")]

    def __str__(self) -> str:
        return f"{self.group} {self.starts_at:%Y-%m-%d %H:%M} UTC"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end is before the start.")})
        if self.status == SessionStatus.CANCELLED and not self.cancel_reason:
            raise ValidationError({"cancel_reason": _("Give a reason patients will see.")})

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED

    @property
    def duration_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @property
    def join_opens_at(self) -> dt.datetime:
        return self.starts_at - JOIN_OPENS_BEFORE

    def join_is_open(self, now: dt.datetime) -> bool:
        return self.status == SessionStatus.SCHEDULED and self.join_opens_at <= now < self.ends_at

    @property
    def room_url(self) -> str:
        return reverse("rooms:room", kwargs={"session_id": self.pk})

    @property
    def join_url(self) -> str:
        return self.room_url


class MembershipStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    WAITLISTED = "waitlisted", _("Waitlisted")
    ENDED = "ended", _("Ended")


class GroupMembership(models.Model):
    """A patient's seat in a group (or place on its waitlist) from one date to another."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="group_memberships",
        limit_choices_to={"role": "patient"},
        # Indexed by membership_patient_status, which leads with it.
        db_index=False,
    )
    from_date = models.DateField(_("from"))
    to_date = models.DateField(_("to"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=MembershipStatus.choices,
        default=MembershipStatus.ACTIVE,
    )
    waitlist_position = models.PositiveIntegerField(_("waitlist position"), null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group", "status", "waitlist_position", "from_date"]
        constraints = [
            # One live seat or waitlist place per patient and group.
            models.UniqueConstraint(
                fields=["group", "patient"],
                condition=Q(status__in=["active", "waitlisted"]),
                name="membership_one_live_per_patient",
            ),
            models.CheckConstraint(
                condition=(Q(status="waitlisted") & Q(waitlist_position__isnull=False))
                | (~Q(status="waitlisted") & Q(waitlist_position__isnull=True)),
                name="membership_waitlist_position_iff_waitlisted",
            ),
            models.CheckConstraint(
                condition=Q(to_date__isnull=True) | Q(to_date__gte=models.F("from_date")),
                name="membership_to_after_from",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "status"], name="membership_patient_status"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} in {self.group_id} ({self.status})"


class OfferStatus(models.TextChoices):
    # A seat freed up; staff have not yet confirmed it may go to this patient.
    PENDING = "pending", _("Awaiting staff")
    # Staff confirmed and the patient was told; they accept or decline until it expires.
    OFFERED = "offered", _("Offered to the patient")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Expired")
    # Staff passed this patient over for this seat.
    SKIPPED = "skipped", _("Skipped by staff")
    # The seat or the waitlist place went away (removed, discharged, capacity lowered).
    WITHDRAWN = "withdrawn", _("Withdrawn")


# An open offer holds a seat: it counts against the group's capacity until it closes.
OFFER_OPEN = (OfferStatus.PENDING, OfferStatus.OFFERED)


class SeatOffer(models.Model):
    """A freed group seat offered to the first patient on the waitlist: staff confirm it,
    then the patient accepts or declines before ``expires_at``."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="seat_offers")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="seat_offers",
        limit_choices_to={"role": "patient"},
    )
    # The waitlist place; gone (null) once the place is removed, the offer kept as history.
    membership = models.ForeignKey(
        GroupMembership,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="seat_offers",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(_("offered at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group", "created_at", "pk"]
        constraints = [
            # One open offer per waitlist place: a freed seat never makes two.
            models.UniqueConstraint(
                fields=["membership"],
                condition=Q(status__in=["pending", "offered"]),
                name="seatoffer_one_open_per_membership",
            ),
            models.CheckConstraint(
                condition=~Q(status="offered") | Q(expires_at__isnull=False),
                name="seatoffer_offered_has_expiry",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="seatoffer_status_expiry")]

    def __str__(self) -> str:
        return f"Seat in {self.group_id} for {self.patient_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OFFER_OPEN

    def is_expired(self, now: dt.datetime) -> bool:
        return self.status == OfferStatus.OFFERED and bool(
            self.expires_at and self.expires_at <= now
        )


class AppointmentKind(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual therapy")
    MEDICATION = "medication", _("Medication management")
    CASE_MANAGEMENT = "case_management", _("Case management")
    INTAKE = "intake", _("Intake")
    FAMILY = "family", _("Family session")


class AppointmentStatus(models.TextChoices):
    # A patient's request for an open slot; holds the slot until the clinician confirms.
    REQUESTED = "requested", _("Requested")
    BOOKED = "booked", _("Booked")
    CANCELLED = "cancelled", _("Cancelled")
    COMPLETED = "completed", _("Completed")
    NO_SHOW = "no_show", _("No-show")


# Appointments in these states occupy the clinician's and the patient's time.
APPOINTMENT_HOLDING = (AppointmentStatus.REQUESTED, AppointmentStatus.BOOKED)


class Appointment(models.Model):
    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="appointments"
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="clinician_appointments",
        limit_choices_to={"role": "clinician"},
        # Indexed by appt_clinician_start, which leads with it.
        db_index=False,
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="patient_appointments",
        limit_choices_to={"role": "patient"},
        # Indexed by appt_patient_start, which leads with it.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=20, choices=AppointmentKind.choices)
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.BOOKED,
    )
    cancel_reason = models.CharField(_("cancellation reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="appointment_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["clinician", "starts_at"], name="appt_clinician_start"),
            models.Index(fields=["patient", "starts_at"], name="appt_patient_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M} UTC"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end is before the start.")})

    @property
    def duration_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @property
    def is_cancelled(self) -> bool:
        return self.status == AppointmentStatus.CANCELLED

    @property
    def join_opens_at(self) -> dt.datetime:
        return self.starts_at - JOIN_OPENS_BEFORE

    @property
    def join_closes_at(self) -> dt.datetime:
        return self.ends_at + VISIT_CLOSES_AFTER

    def join_is_open(self, now: dt.datetime) -> bool:
        return (
            self.status == AppointmentStatus.BOOKED
            and self.join_opens_at <= now < self.join_closes_at
        )

    @property
    def join_url(self) -> str:
        return reverse("video:visit", kwargs={"appointment_id": self.pk})


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class ClinicianAvailability(models.Model):
    """Weekly open hours for individual appointments, wall-clock in the clinician's zone."""

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="availability",
        limit_choices_to={"role": "clinician"},
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start_time = models.TimeField(_("from"))
    end_time = models.TimeField(_("until"))

    class Meta:
        ordering = ["clinician", "weekday", "start_time"]
        verbose_name_plural = "clinician availability"
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")),
                name="availability_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0) & Q(weekday__lte=6), name="availability_weekday"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def clean(self) -> None:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValidationError({"end_time": _("The end is before the start.")})


class AvailabilityException(models.Model):
    """A day (or part of one) the clinician is away, e.g. leave or a holiday."""

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="availability_exceptions",
        limit_choices_to={"role": "clinician"},
    )
    date = models.DateField(_("date"))
    # Both empty: the whole day.
    start_time = models.TimeField(_("from"), null=True, blank=True)
    end_time = models.TimeField(_("until"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=120, blank=True)

    class Meta:
        ordering = ["clinician", "date", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(start_time__isnull=True) & Q(end_time__isnull=True))
                | (
                    Q(start_time__isnull=False)
                    & Q(end_time__isnull=False)
                    & Q(end_time__gt=models.F("start_time"))
                ),
                name="availability_exception_times",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinician_id} away {self.date}"

    @property
    def whole_day(self) -> bool:
        return self.start_time is None


class AttendanceStatus(models.TextChoices):
    PRESENT = "present", _("Present")
    LATE = "late", _("Late")
    LEFT_EARLY = "left_early", _("Left early")
    ABSENT = "absent", _("Absent")
    EXCUSED = "excused", _("Excused")


# Statuses whose minutes count toward the weekly hours.
ATTENDED_STATUSES = (AttendanceStatus.PRESENT, AttendanceStatus.LATE, AttendanceStatus.LEFT_EARLY)


class AttendanceSource(models.TextChoices):
    AUTO = "auto", _("From the room")
    CONFIRMED = "confirmed", _("Confirmed by facilitator")


class PatientLocation(models.TextChoices):
    """Where a patient says they are when joining a video session or visit."""

    HOME = "home", _("At home")
    ELSEWHERE = "elsewhere", _("Somewhere else")


# CMS place-of-service codes for telehealth: 10 in the patient's home, 02 anywhere else.
PLACE_OF_SERVICE = {PatientLocation.HOME: "10", PatientLocation.ELSEWHERE: "02"}


class Attendance(models.Model):
    session = models.ForeignKey(
        Session,
        on_delete=models.CASCADE,
        related_name="attendance",
        # Indexed by attendance_unique, which leads with it.
        db_index=False,
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attendance"
    )
    status = models.CharField(_("status"), max_length=12, choices=AttendanceStatus.choices)
    minutes = models.PositiveSmallIntegerField(
        _("minutes attended"), default=0, validators=[MaxValueValidator(24 * 60)]
    )
    source = models.CharField(
        _("source"), max_length=10, choices=AttendanceSource.choices, default=AttendanceSource.AUTO
    )
    # Presence intervals reported by the room, as [[joined ISO, left ISO or null], ...].
    presence = models.JSONField(default=list, blank=True)
    first_joined_at = models.DateTimeField(null=True, blank=True)
    # As the patient gave it when joining the video (emergencies; place of service).
    location = models.CharField(
        _("location"), max_length=10, choices=PatientLocation.choices, blank=True
    )
    location_place = models.CharField(_("city and state"), max_length=120, blank=True)
    last_left_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session", "patient"]
        verbose_name_plural = "attendance"
        constraints = [
            models.UniqueConstraint(fields=["session", "patient"], name="attendance_unique"),
            models.CheckConstraint(
                condition=Q(minutes__lte=24 * 60), name="attendance_minutes_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.status} in session {self.session_id}"

    @property
    def counts(self) -> bool:
        return self.status in ATTENDED_STATUSES

    @property
    def place_of_service(self) -> str:
        return PLACE_OF_SERVICE.get(self.location, "")  # type: ignore[call-overload]


def _feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A user's private iCalendar subscription. The token is the only credential: it is
    random, carries no name or e-mail, and rotating it invalidates the old URL."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=_feed_token)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Calendar feed of user {self.user_id}"
