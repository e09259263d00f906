"""Billing settings per program (clinic identity, codes), and payer authorizations.

Codes are data, not constants: a program's ``BillingCode`` rows say which HCPCS/CPT code a
service becomes (the common ones are filled in by ``codes.fill_defaults``; admins edit them).
Claims are computed from the signed record every time (``selectors.billable_days``), never
stored, so a claim line cannot drift from the note that backs it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Service(models.TextChoices):
    """What a code is billed for. Per diem: the IOP day; the others: one service each."""

    PER_DIEM_MH = "per_diem_mh", _("IOP per diem, psychiatric (S9480)")
    PER_DIEM_SUD = "per_diem_sud", _("IOP per diem, substance use (H0015)")
    GROUP = "group", _("Group psychotherapy")
    INDIVIDUAL = "individual", _("Individual psychotherapy")
    INTAKE = "intake", _("Intake evaluation")
    FAMILY = "family", _("Family psychotherapy")


PER_DIEM_SERVICES = (Service.PER_DIEM_MH, Service.PER_DIEM_SUD)

PLACE_OF_SERVICE_CHOICES = [
    ("10", _("10 · Telehealth in the patient's home")),
    ("02", _("02 · Telehealth, not in the patient's home")),
    ("11", _("11 · Office")),
]


class BillingSettings(models.Model):
    """A program's billing identity and rules (admin-edited). Medicare partial-hospital and
    Medicare IOP rules (condition code 92, physician certification) are out of scope."""

    program = models.OneToOneField(
        "programs.Program", on_delete=models.CASCADE, related_name="billing_settings"
    )
    clinic_name = models.CharField(_("clinic name (billing provider)"), max_length=120)
    npi = models.CharField(
        _("NPI"),
        max_length=10,
        blank=True,
        validators=[RegexValidator(r"^\d{10}$", _("An NPI is 10 digits."))],
    )
    tax_id = models.CharField(
        _("tax id (EIN)"),
        max_length=10,
        blank=True,
        validators=[RegexValidator(r"^\d{2}-?\d{7}$", _("An EIN looks like 12-3456789."))],
    )
    address = models.TextField(_("address"), blank=True)
    phone = models.CharField(_("billing phone"), max_length=40, blank=True)
    per_diem_service = models.CharField(
        _("per-diem code"),
        max_length=12,
        choices=[
            ("", _("None: bill each group as group psychotherapy")),
            *((s.value, s.label) for s in PER_DIEM_SERVICES),
        ],
        blank=True,
        help_text=_("S9480 for psychiatric IOP, H0015 for substance-use IOP."),
    )
    per_diem_min_minutes = models.PositiveSmallIntegerField(
        _("per-diem minimum (minutes a day)"),
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_("H0015: at least 3 hours a day. A day below it is not billable."),
    )
    individual_on_per_diem_days = models.BooleanField(
        _("bill individual sessions on their own line on per-diem days"),
        default=True,
        help_text=_("Some payers bundle them into the per diem; check the contract."),
    )
    telehealth_modifier = models.CharField(
        _("video telehealth modifier"), max_length=2, default="95", blank=True
    )
    audio_only_modifier = models.CharField(
        _("audio-only modifier"), max_length=2, default="93", blank=True
    )
    default_place_of_service = models.CharField(
        _("place of service when the patient's location was not recorded"),
        max_length=2,
        choices=PLACE_OF_SERVICE_CHOICES,
        default="10",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("billing settings")
        verbose_name_plural = _("billing settings")

    def __str__(self) -> str:
        return f"Billing settings for {self.program}"


class BillingCode(models.Model):
    """One service's code in one program. For individual psychotherapy several rows split
    the session length into bands (90832 16-37, 90834 38-52, 90837 53+ minutes)."""

    program = models.ForeignKey("programs.Program", on_delete=models.CASCADE, related_name="+")
    service = models.CharField(_("service"), max_length=12, choices=Service.choices)
    code = models.CharField(
        _("code"),
        max_length=5,
        validators=[RegexValidator(r"^[A-Z0-9]{5}$", _("Five letters or digits (HCPCS/CPT)."))],
    )
    description = models.CharField(_("description"), max_length=120)
    min_minutes = models.PositiveSmallIntegerField(_("from minutes"), default=0)
    max_minutes = models.PositiveSmallIntegerField(
        _("to minutes"), null=True, blank=True, help_text=_("Empty: no upper limit.")
    )
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["program", "service", "min_minutes"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "service", "min_minutes"],
                condition=Q(active=True),
                name="billingcode_one_band",
            ),
            models.CheckConstraint(
                condition=Q(max_minutes__isnull=True) | Q(max_minutes__gte=models.F("min_minutes")),
                name="billingcode_band_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"

    def clean(self) -> None:
        if self.max_minutes is not None and self.max_minutes < self.min_minutes:
            raise ValidationError({"max_minutes": _("The band ends before it starts.")})

    def fits(self, minutes: int) -> bool:
        return self.min_minutes <= minutes and (
            self.max_minutes is None or minutes <= self.max_minutes
        )


class AuthorizationUnit(models.TextChoices):
    DAYS = "days", _("Days (per-diem days)")
    UNITS = "units", _("Units (every claim line)")


class Authorization(models.Model):
    """A payer's prior authorization for a patient: how many days or units, between which
    dates. Days outside every window of a patient who has authorizations are not billable."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="authorizations",
        limit_choices_to={"role": "patient"},
        # Indexed by authorization_patient_window, which leads with it.
        db_index=False,
    )
    payer = models.CharField(_("payer"), max_length=120)
    number = models.CharField(_("authorization number"), max_length=60)
    unit = models.CharField(
        _("authorized in"),
        max_length=5,
        choices=AuthorizationUnit.choices,
        default=AuthorizationUnit.DAYS,
    )
    authorized = models.PositiveSmallIntegerField(
        _("days or units authorized"), validators=[MinValueValidator(1)]
    )
    start_date = models.DateField(_("first day"))
    end_date = models.DateField(_("last day"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "start_date"]
        indexes = [
            models.Index(fields=["patient", "start_date"], name="authorization_patient_window")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="authorization_window"
            ),
            models.CheckConstraint(condition=Q(authorized__gte=1), name="authorization_positive"),
            models.UniqueConstraint(fields=["payer", "number"], name="authorization_unique"),
        ]

    def __str__(self) -> str:
        return f"Authorization {self.number}"

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The last day is before the first day.")})

    def covers(self, day: object) -> bool:
        return self.start_date <= day <= self.end_date  # type: ignore[operator]
