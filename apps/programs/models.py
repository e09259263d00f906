from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from timezone_field import TimeZoneField


class ProgramKind(models.TextChoices):
    MENTAL_HEALTH = "mental_health", _("Mental health")
    SUBSTANCE_USE = "substance_use", _("Substance use")
    ADOLESCENT = "adolescent", _("Adolescent")


def _clinic_tz() -> str:
    return settings.CLINIC_TIME_ZONE


class Program(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    slug = models.SlugField(unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=ProgramKind.choices)
    description = models.TextField(_("description"), blank=True)
    # ASAM level 2.1: 9-19 h/week for adults, 6-19 for adolescents (see shared/CLINICAL.md).
    weekly_hour_floor = models.DecimalField(
        _("weekly hour floor"),
        max_digits=4,
        decimal_places=1,
        default=Decimal("9.0"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("40"))],
    )
    min_days_per_week = models.PositiveSmallIntegerField(
        _("minimum days per week"), default=3, validators=[MaxValueValidator(7)]
    )
    length_weeks = models.PositiveSmallIntegerField(
        _("typical length (weeks)"), default=8, validators=[MinValueValidator(1)]
    )
    time_zone = TimeZoneField(_("time zone"), default=_clinic_tz, use_pytz=False)
    crisis_text = models.CharField(_("crisis text"), max_length=200, default="Call or text 988")
    clinic_phone = models.CharField(_("clinic phone"), max_length=40, blank=True)
    states_served = models.JSONField(
        _("states served"),
        default=list,
        blank=True,
        help_text=_(
            'Two-letter codes of the states this program is licensed to serve, e.g. ["CA", "OR"].'
        ),
    )
    is_active = models.BooleanField(_("accepting patients"), default=True)
    # Secure messaging: what a patient is told about reply times on every compose page, and
    # whether a discharged patient may still send (they can always read their threads).
    message_reply_expectation = models.CharField(
        _("message reply expectation"),
        max_length=200,
        default="We answer messages within one business day.",
        help_text=_("Shown to patients each time they write a message."),
    )
    messaging_after_discharge = models.BooleanField(
        _("patients may send messages after discharge"), default=False
    )
    # Group waitlists: how long a patient has to accept a seat once staff have offered it.
    seat_offer_hours = models.PositiveSmallIntegerField(
        _("seat offer expires after (hours)"),
        default=48,
        validators=[MinValueValidator(1), MaxValueValidator(14 * 24)],
        help_text=_("When a group seat is offered to the first on its waitlist."),
    )
    clinicians = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ProgramStaff",
        related_name="programs",
        blank=True,
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_substance_use(self) -> bool:
        return self.kind == ProgramKind.SUBSTANCE_USE


class ProgramStaff(models.Model):
    """A clinician working in a program. Access to a program's patients follows from this."""

    program = models.ForeignKey(
        Program,
        on_delete=models.CASCADE,
        related_name="staff",
        # Indexed by programstaff_unique, which leads with it.
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="program_staff",
        limit_choices_to={"role__in": ["clinician", "admin"]},
    )
    on_call = models.BooleanField(
        _("on call"), default=False, help_text=_("Receives unacknowledged safety alerts.")
    )
    # Staff functions in this program, beside the clinical ones (prescriber and case manager
    # live with the clinician): who answers the patients' Scheduling and Billing messages.
    front_desk = models.BooleanField(
        _("scheduling and front desk"),
        default=False,
        help_text=_("Receives the program's Scheduling messages that no one is assigned to."),
    )
    billing = models.BooleanField(
        _("billing"),
        default=False,
        help_text=_("Receives the program's Billing messages that no one is assigned to."),
    )
    since = models.DateField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "user"], name="programstaff_unique")
        ]
        verbose_name_plural = "program staff"

    def __str__(self) -> str:
        return f"{self.user} in {self.program}"
