"""A patient's ICD-10-CM diagnoses and, for mental-health programs, the level-of-care
justification. Codes are checked against the CMS code set (``apps.diagnoses.codes``) by the
services; the description is copied at save time so a claim shows what the clinician chose
even after a code-set update renames it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Rank(models.TextChoices):
    PRIMARY = "primary", _("Primary")
    SECONDARY = "secondary", _("Secondary")


class DiagnosisStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RESOLVED = "resolved", _("Resolved")


class Diagnosis(models.Model):
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="diagnoses"
    )
    # Stored with its dot (F33.1), as the code set prints it; claims drop the dot themselves.
    code = models.CharField(_("ICD-10-CM code"), max_length=8)
    description = models.CharField(_("description"), max_length=255)
    rank = models.CharField(_("rank"), max_length=10, choices=Rank.choices)
    onset_date = models.DateField(_("onset date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=DiagnosisStatus.choices, default=DiagnosisStatus.ACTIVE
    )
    resolved_date = models.DateField(_("resolved date"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Every change (rank, onset, resolution) is kept row by row: payers audit the record.
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("diagnosis")
        verbose_name_plural = _("diagnoses")
        ordering = ["patient", "status", "rank", "added_at"]
        constraints = [
            # A claim has exactly one principal diagnosis: never two active primaries.
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="active", rank="primary"),
                name="diagnosis_one_active_primary",
            ),
            # The same code twice on the active list says nothing new and confuses claims.
            models.UniqueConstraint(
                fields=["patient", "code"],
                condition=Q(status="active"),
                name="diagnosis_active_code_once",
            ),
            models.CheckConstraint(
                condition=(Q(status="active", resolved_date__isnull=True))
                | (Q(status="resolved", resolved_date__isnull=False)),
                name="diagnosis_resolved_has_date",
            ),
            models.CheckConstraint(
                condition=Q(onset_date__isnull=True)
                | Q(resolved_date__isnull=True)
                | Q(resolved_date__gte=F("onset_date")),
                name="diagnosis_resolved_after_onset",
            ),
            models.CheckConstraint(
                condition=Q(rank__in=["primary", "secondary"]), name="diagnosis_rank_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_rank_display()}, {self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == DiagnosisStatus.ACTIVE

    @property
    def is_primary(self) -> bool:
        return self.rank == Rank.PRIMARY


class LevelOfCareJustification(models.Model):
    """Why this patient needs an IOP rather than weekly therapy (mental-health programs;
    substance-use programs document ASAM in a note). Append-only: a review writes a new one
    and the latest is current."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="level_of_care",
        db_index=False,  # loc_patient_latest leads with it
    )
    text = models.TextField(_("level-of-care justification"), max_length=4000)
    effective_date = models.DateField(_("date"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("level-of-care justification")
        ordering = ["patient", "-effective_date", "-created_at"]
        indexes = [
            models.Index(
                fields=["patient", "-effective_date", "-created_at"], name="loc_patient_latest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.effective_date}"
