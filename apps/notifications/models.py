"""The notification outbox, in-app notifications and per-user delivery preferences.

Every notification is first an ``Outbox`` row written in the same transaction as the event
that causes it (a session cancelled, a safety flag raised); a beat task claims due rows and
a worker sends each through its channel. The row is the source of truth: it carries the
dedupe key (one row per recipient, event, kind and channel), the attempts, the last error
and when it was sent. When a worker dies, what it had not started is sent again; what it
was handing over to the provider at that instant is sent again only for safety alerts (at
least once) and otherwise marked "outcome unknown" for staff (at most once: no duplicate).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    """What a notification is about. Stable values: other apps pass them to the services."""

    SESSION_REMINDER = "session_reminder", _("Group session reminder")
    APPOINTMENT_REMINDER = "appointment_reminder", _("Appointment reminder")
    SESSION_CANCELLED = "session_cancelled", _("Session or appointment cancelled")
    SESSION_CHANGED = "session_changed", _("Session or appointment changed")
    HOMEWORK_ASSIGNED = "homework_assigned", _("Homework assigned")
    HOMEWORK_DUE = "homework_due", _("Homework due tomorrow")
    HOMEWORK_OVERDUE = "homework_overdue", _("Homework overdue")
    HOMEWORK_FEEDBACK = "homework_feedback", _("Feedback on homework")
    CHECKIN_NUDGE = "checkin_nudge", _("Daily check-in nudge")
    SAFETY_ALERT = "safety_alert", _("Safety alert (clinicians)")
    SAFETY_ESCALATION = "safety_escalation", _("Unacknowledged safety alert (on call)")
    NO_SHOW = "no_show", _("Patient absent from a session (clinicians)")
    HOURS_BELOW_FLOOR = "hours_below_floor", _("Patient below the weekly hour floor (clinicians)")
    NEW_MESSAGE = "new_message", _("New secure message")
    INTAKE_SCHEDULED = "intake_scheduled", _("Intake appointment scheduled")
    ADMITTED = "admitted", _("Admitted to the program")
    SEAT_OFFERED = "seat_offered", _("A group seat is offered")
    # To a person without an account, named in the patient's release (``outside``).
    FAMILY_TIMES = "family_times", _("Appointment time for a family member (under a release)")
    GENERAL = "general", _("Other messages")


# Safety alerts ignore quiet hours, cannot be switched off for e-mail or in-app, and an
# unsubscribe link never touches them (CLINICAL.md: same-day follow-up of item 9 / C-SSRS).
SAFETY_KINDS = frozenset({Kind.SAFETY_ALERT, Kind.SAFETY_ESCALATION})
# Kinds that carry a one-click unsubscribe link in their e-mails.
REMINDER_KINDS = frozenset(
    {
        Kind.SESSION_REMINDER,
        Kind.APPOINTMENT_REMINDER,
        Kind.HOMEWORK_DUE,
        Kind.HOMEWORK_OVERDUE,
        Kind.CHECKIN_NUDGE,
    }
)
# Sent to someone outside the platform about a patient (the row's recipient): by e-mail only,
# never chosen in anyone's preferences; ``apps.notifications.outside`` says where and when.
OUTSIDE_KINDS = frozenset({Kind.FAMILY_TIMES})
CLINICIAN_KINDS = frozenset(
    {Kind.SAFETY_ALERT, Kind.SAFETY_ESCALATION, Kind.NO_SHOW, Kind.HOURS_BELOW_FLOOR}
)


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("Text message (SMS)")
    IN_APP = "in_app", _("In the app")


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    # Committed just before the provider is called: a worker that dies in this state may
    # or may not have handed the message over.
    HANDOVER = "handover", _("Handing over to the provider")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    # Its worker died while handing it over: not sent again, so it cannot arrive twice
    # (reminders, at most once). Staff may send it again from admin.
    UNKNOWN = "unknown", _("Outcome unknown (not sent again)")


# Held by a live worker: renewed by its lease, released when it dies.
HELD_STATUSES = (Status.SENDING, Status.HANDOVER)


def dedupe_key_for(*, recipient_id: int, event_key: str, kind: str, channel: str) -> str:
    return f"{recipient_id}|{event_key}|{kind}|{channel}"


class Outbox(models.Model):
    """One notification to one person on one channel. Sent at most once (``dedupe_key``)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="outbox",
        # Indexed by outbox_unique_recipient_event_kind_channel, which leads with it.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    event_key = models.CharField(
        _("event key"),
        max_length=160,
        db_index=True,
        help_text=_('The event that causes it, from ids only, e.g. "scheduling.session:42".'),
    )
    # No PHI: ids, times, links. The first name is read from the recipient at send time.
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    due_at = models.DateTimeField(_("due at"), db_index=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=255, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    # Set when a worker claims the row; it writes the row only under its own claim.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    # The lease: renewed while the holder sends; a row not renewed for a lease is taken back.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "pk"]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "event_key", "kind", "channel"],
                name="outbox_unique_recipient_event_kind_channel",
            ),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | ~Q(status="sent"),
                name="outbox_sent_has_sent_at",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=[c.value for c in Channel]),
                name="outbox_channel_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in Status]),
                name="outbox_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="outbox_status_due")]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel} to user {self.recipient_id} ({self.status})"

    @property
    def is_safety(self) -> bool:
        return self.kind in SAFETY_KINDS


class Notification(models.Model):
    """An in-app notification: what the bell counts and the list shows."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        # Indexed by notification_unread, which leads with it.
        db_index=False,
    )
    # One in-app notification per outbox row: delivering the row twice cannot show it twice.
    outbox = models.OneToOneField(
        Outbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="notification"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.CharField(_("text"), max_length=500, blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return f"{self.title} for user {self.recipient_id}"


class Preference(models.Model):
    """An explicit choice for one kind on one channel; without a row the default applies."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_prefs",
        # Indexed by preference_unique_user_kind_channel, which leads with it.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "channel"], name="preference_unique_user_kind_channel"
            )
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"{self.kind}/{self.channel} {state} for user {self.user_id}"


def _default_leads() -> list[int]:
    return [24 * 60, 60]


class NotificationSettings(models.Model):
    """Per-user delivery settings: quiet hours, reminder lead times, check-in time, phone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    # Local wall-clock times in the user's zone; the window may wrap past midnight.
    # Default 21:00-08:00: no e-mail or SMS at night unless it is a safety alert.
    quiet_start = models.TimeField(
        _("quiet hours start"), null=True, blank=True, default=dt.time(21, 0)
    )
    quiet_end = models.TimeField(_("quiet hours end"), null=True, blank=True, default=dt.time(8, 0))
    reminder_leads_minutes = models.JSONField(
        _("reminder lead times (minutes)"), default=_default_leads, blank=True
    )
    checkin_time = models.TimeField(_("daily check-in nudge at"), null=True, blank=True)
    sms_phone = models.CharField(_("verified phone"), max_length=32, blank=True)
    phone_verified_at = models.DateTimeField(_("phone verified at"), null=True, blank=True)
    verification_code_hash = models.CharField(max_length=128, blank=True)
    verification_phone = models.CharField(max_length=32, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    verification_attempts = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notification settings")
        verbose_name_plural = _("notification settings")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(quiet_start__isnull=True, quiet_end__isnull=True)
                    | Q(quiet_start__isnull=False, quiet_end__isnull=False)
                ),
                name="notificationsettings_quiet_both_or_neither",
            )
        ]

    def __str__(self) -> str:
        return f"Notification settings of user {self.user_id}"

    @property
    def phone_verified(self) -> bool:
        return bool(self.sms_phone and self.phone_verified_at)

    def in_quiet_hours(self, local_time: dt.time) -> bool:
        if self.quiet_start is None or self.quiet_end is None:
            return False
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local_time < self.quiet_end
        return local_time >= self.quiet_start or local_time < self.quiet_end
