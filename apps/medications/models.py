"""A patient's medication list, allergies and adverse reactions, and their daily adherence
answers. Prescriptions are not sent from here: there is no e-prescribing (README)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Status(models.TextChoices):
    ACTIVE = "active", _("Active")
    ON_HOLD = "on_hold", _("On hold")
    STOPPED = "stopped", _("Stopped")


class Route(models.TextChoices):
    ORAL = "oral", _("By mouth")
    SUBLINGUAL = "sublingual", _("Under the tongue")
    INJECTION_IM = "im", _("Injection into a muscle")
    INJECTION_SC = "sc", _("Injection under the skin")
    TRANSDERMAL = "transdermal", _("Skin patch")
    INHALED = "inhaled", _("Inhaled")
    NASAL = "nasal", _("Nasal spray")
    TOPICAL = "topical", _("On the skin")
    OTHER = "other", _("Other")


class Source(models.TextChoices):
    PATIENT = "patient", _("Patient-reported")
    CLINICIAN = "clinician", _("Entered by clinician")


class Reconciliation(models.TextChoices):
    """What a clinician decided about a patient-reported medication."""

    PENDING = "pending", _("Not yet reviewed")
    CONFIRMED = "confirmed", _("Confirmed")
    EDITED = "edited", _("Confirmed with changes")
    NOT_TAKING = "not_taking", _("Not taking")


class Medication(models.Model):
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="medications",
        limit_choices_to={"role": "patient"},
        # Indexed by medication_patient_status, which leads with it.
        db_index=False,
    )
    name = models.CharField(_("medication"), max_length=200)
    in_list = models.BooleanField(
        _("name is in the drug list"),
        default=False,
        help_text=_("False when the name was typed freely and is not in the drug list."),
    )
    dose = models.CharField(_("dose"), max_length=60, blank=True, help_text=_("e.g. 50 mg"))
    route = models.CharField(_("route"), max_length=16, choices=Route.choices, blank=True)
    frequency = models.CharField(
        _("how often"), max_length=80, blank=True, help_text=_("e.g. once daily at bedtime")
    )
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"role": "clinician"},
        verbose_name=_("prescriber in this clinic"),
    )
    outside_prescriber = models.CharField(
        _("outside prescriber"), max_length=120, blank=True, help_text=_("Name and practice.")
    )
    start_date = models.DateField(_("started"), null=True, blank=True)
    stop_date = models.DateField(_("stopped"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    reconciliation = models.CharField(
        _("reconciliation"),
        max_length=12,
        choices=Reconciliation.choices,
        default=Reconciliation.PENDING,
    )
    reconciled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reconciled_at = models.DateTimeField(null=True, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The form's one-time token: a second submit of the same form finds this row.
    client_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["status", "name"]
        indexes = [models.Index(fields=["patient", "status"], name="medication_patient_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="medication_status_known"
            ),
            models.CheckConstraint(
                condition=Q(stop_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(stop_date__gte=F("start_date")),
                name="medication_stop_after_start",
            ),
            models.CheckConstraint(
                condition=Q(prescriber__isnull=True) | Q(outside_prescriber=""),
                name="medication_one_prescriber",
            ),
            models.CheckConstraint(
                condition=Q(reconciliation=Reconciliation.PENDING)
                | Q(reconciled_by__isnull=False, reconciled_at__isnull=False),
                name="medication_reconciled_by_whom",
            ),
        ]

    def __str__(self) -> str:
        return f"Medication #{self.pk}"

    def clean(self) -> None:
        if self.start_date and self.stop_date and self.stop_date < self.start_date:
            raise ValidationError({"stop_date": _("The stop date can't be before the start.")})
        if self.prescriber_id and self.outside_prescriber:
            raise ValidationError(
                {"outside_prescriber": _("Give either a clinic prescriber or an outside one.")}
            )

    @property
    def needs_review(self) -> bool:
        return self.source == Source.PATIENT and self.reconciliation == Reconciliation.PENDING


class Severity(models.TextChoices):
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe")
    UNKNOWN = "unknown", _("Unknown")


class AllergyKind(models.TextChoices):
    ALLERGY = "allergy", _("Allergy")
    ADVERSE = "adverse", _("Adverse reaction")


class Allergy(models.Model):
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="allergies",
        limit_choices_to={"role": "patient"},
    )
    substance = models.CharField(_("substance"), max_length=120)
    kind = models.CharField(
        _("type"), max_length=10, choices=AllergyKind.choices, default=AllergyKind.ALLERGY
    )
    reaction = models.CharField(_("reaction"), max_length=200, blank=True)
    severity = models.CharField(
        _("severity"), max_length=10, choices=Severity.choices, default=Severity.UNKNOWN
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    client_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Kept, not deleted: who marked it a mistake and when stays in the record.
    entered_in_error_at = models.DateTimeField(null=True, blank=True)
    entered_in_error_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["substance"]
        verbose_name_plural = _("allergies")
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__in=Severity.values), name="allergy_severity_known"
            ),
        ]

    def __str__(self) -> str:
        return f"Allergy #{self.pk}"

    @property
    def patient_reported(self) -> bool:
        return self.recorded_by_id == self.patient_id


class AllergyReview(models.Model):
    """A clinician's "no known allergies": asked and none found, as opposed to never asked.
    Recording an allergy afterwards clears it."""

    patient = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="allergy_review"
    )
    no_known_allergies = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField()

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Allergy review #{self.pk}"


class Adherence(models.TextChoices):
    YES = "yes", _("Yes")
    PARTLY = "partly", _("Partly")
    NO = "no", _("No")


class AdherenceAnswer(models.Model):
    """The answer to "Took my medications as prescribed today?" in a daily check-in."""

    checkin = models.OneToOneField(
        "progress.DailyCheckIn", on_delete=models.CASCADE, related_name="+"
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed by adherence_one_per_day, which leads with it.
        db_index=False,
    )
    day = models.DateField()
    answer = models.CharField(max_length=8, choices=Adherence.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "day"], name="adherence_one_per_day"),
            models.CheckConstraint(
                condition=Q(answer__in=Adherence.values), name="adherence_answer_known"
            ),
        ]

    def __str__(self) -> str:
        return f"Adherence #{self.pk} ({self.day})"
