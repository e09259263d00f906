from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.core.signed import SignedRecord
from apps.measures.registry import Instrument, instrument_get


class MeasureContext(models.TextChoices):
    INTAKE = "intake", _("Intake")
    REPEAT = "repeat", _("Repeated measure")
    DISCHARGE = "discharge", _("Discharge")
    CHECKIN = "checkin", _("Check-in")


class MeasureResponse(SignedRecord, models.Model):
    """One completed instrument: the answers as given, and the server's score."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="measure_responses",
        # Indexed by the (patient, instrument, -taken_at) index, which leads with it.
        db_index=False,
    )
    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    instrument = models.CharField(_("instrument"), max_length=20)
    answers = models.JSONField(_("answers"))
    total = models.PositiveSmallIntegerField(_("total"), null=True, blank=True)
    band = models.CharField(_("band"), max_length=30)
    flags = models.JSONField(_("flags"), default=list, blank=True)
    context = models.CharField(max_length=20, choices=MeasureContext.choices)
    # Idempotency key from the caller (e.g. "application:12"): a second submit with the same
    # key returns the stored response instead of adding another.
    ref = models.CharField(max_length=60, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Who submitted it, when not the patient (administered in session)."),
    )
    taken_at = models.DateTimeField(_("taken at"), db_index=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "instrument", "ref"],
                condition=~Q(ref=""),
                name="measureresponse_unique_ref",
            ),
        ]
        indexes = [models.Index(fields=["patient", "instrument", "-taken_at"])]

    def __str__(self) -> str:
        return f"{self.instrument} #{self.pk}"

    # A submitted instrument is the patient's answer as given: never edited, never deleted.
    def is_signed(self) -> bool:
        return True

    @property
    def definition(self) -> Instrument | None:
        return instrument_get(self.instrument)

    @property
    def short_name(self) -> str:
        d = self.definition
        return d.short_name if d else self.instrument

    @property
    def band_label(self) -> str:
        d = self.definition
        return d.band_label(self.band) if d else self.band


class Severity(models.TextChoices):
    URGENT = "urgent", _("Urgent")
    HIGH = "high", _("High")
    MODERATE = "moderate", _("Moderate")


SEVERITY_RANK = {Severity.URGENT: 0, Severity.HIGH: 1, Severity.MODERATE: 2}


class SafetyFlag(models.Model):
    """A risk signal for the program's clinicians. Open until a clinician acknowledges it
    with a note; it never blocks the patient."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="safety_flags"
    )
    program = models.ForeignKey(
        "programs.Program",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="safety_flags",
        # Indexed by the (program, acknowledged_at) index, which leads with it.
        db_index=False,
    )
    response = models.ForeignKey(
        MeasureResponse, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(_("source"), max_length=40, help_text=_("Rule code, e.g. phq9_item9"))
    reason = models.CharField(_("reason"), max_length=200)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    opened_at = models.DateTimeField(_("opened at"), db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.TextField(_("note"), blank=True)

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        ordering = ["acknowledged_at", "opened_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                    | (
                        Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False)
                        & ~Q(acknowledgement_note="")
                    )
                ),
                name="safetyflag_ack_complete",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=["urgent", "high", "moderate"]),
                name="safetyflag_severity_valid",
            ),
        ]
        indexes = [models.Index(fields=["program", "acknowledged_at"])]

    def __str__(self) -> str:
        return f"Safety flag #{self.pk} ({self.severity})"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None
