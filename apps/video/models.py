"""Media rooms on Janus and who sits in them. Janus sees only the opaque numbers here."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.scheduling.models import PLACE_OF_SERVICE, PatientLocation


def _janus_id() -> int:
    # Below 2**53: the browser reads room and feed ids as JavaScript numbers.
    return secrets.randbelow(2**53 - 1) + 1


def _secret() -> str:
    return secrets.token_urlsafe(24)


class VideoRoom(models.Model):
    """The Janus VideoRoom of one group session or one appointment (a 1:1 visit)."""

    session = models.OneToOneField(
        "scheduling.Session",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="video_room",
    )
    appointment = models.OneToOneField(
        "scheduling.Appointment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="video_room",
    )
    janus_room = models.PositiveBigIntegerField(unique=True, default=_janus_id, editable=False)
    pin = models.CharField(max_length=64, default=_secret, editable=False)
    secret = models.CharField(max_length=64, default=_secret, editable=False)
    # Visits only: a group session's lock is its chat room's.
    locked = models.BooleanField(_("locked"), default=False)
    members_may_share = models.BooleanField(_("members may share their screen"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(session__isnull=False) & Q(appointment__isnull=True))
                | (Q(session__isnull=True) & Q(appointment__isnull=False)),
                name="videoroom_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"video room {self.pk}"


class SeatStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting to be let in")
    ADMITTED = "admitted", _("Admitted")
    REMOVED = "removed", _("Removed")


class GuestRole(models.TextChoices):
    FAMILY = "family", _("Family member")
    INTERPRETER = "interpreter", _("Interpreter")
    SUPPORT = "support", _("Other support person")


class VisitGuest(models.Model):
    """Someone without an account the clinician invites to a visit by a one-time link: a
    family member or an interpreter, with the patient's agreement."""

    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.CASCADE, related_name="video_guests"
    )
    name = models.CharField(_("name"), max_length=60)
    role = models.CharField(_("role"), max_length=12, choices=GuestRole.choices)
    # Only the link's hash is kept: the link itself is shown once, to the clinician.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The clinician confirmed the patient agreed to this person joining. A family member or
    # support person needs more: a signed release naming them (``release``), checked again
    # each time the link is used, so revoking or expiry stops a link already sent.
    patient_agreed = models.BooleanField(_("the patient agreed"), default=False)
    release = models.ForeignKey(
        "enrollment.ReleaseOfInformation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="video_guests",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # The browser session that opened the link first; the link works for no other.
    session_key = models.CharField(max_length=40, blank=True, editable=False)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"guest {self.pk} ({self.role})"


class Seat(models.Model):
    """One person's place in a media room: their opaque Janus identity and what the host set."""

    room = models.ForeignKey(
        VideoRoom,
        on_delete=models.CASCADE,
        related_name="seats",
        # Indexed by seat_unique, which leads with it.
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    guest = models.OneToOneField(
        VisitGuest, on_delete=models.CASCADE, related_name="seat", null=True, blank=True
    )
    is_host = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=SeatStatus.choices)
    feed_id = models.PositiveBigIntegerField(default=_janus_id, editable=False)
    display = models.CharField(max_length=24, editable=False)
    # The room's ACL token (VideoRoom "allowed"): removed from Janus when the seat is.
    acl_token = models.CharField(max_length=64, default=_secret, editable=False)
    audio_locked = models.BooleanField(_("microphone muted by the host"), default=False)
    video_locked = models.BooleanField(_("camera stopped by the host"), default=False)
    location = models.CharField(
        _("location"), max_length=10, choices=PatientLocation.choices, blank=True
    )
    location_place = models.CharField(_("city and state"), max_length=120, blank=True)
    media_joined_at = models.DateTimeField(null=True, blank=True)
    media_seen_at = models.DateTimeField(null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="seat_unique"),
            models.UniqueConstraint(fields=["room", "feed_id"], name="seat_feed_unique"),
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(guest__isnull=True))
                | (Q(user__isnull=True) & Q(guest__isnull=False)),
                name="seat_user_or_guest",
            ),
        ]

    def __str__(self) -> str:
        return f"seat {self.pk} ({self.status})"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.display:
            self.display = f"p{secrets.token_hex(8)}"
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        if self.guest is not None:
            return f"{self.guest.name} ({self.guest.get_role_display()})"
        assert self.user is not None
        return str(self.user.first_name_display)

    @property
    def place_of_service(self) -> str:
        return PLACE_OF_SERVICE.get(self.location, "")  # type: ignore[call-overload]
