"""Measurement-based care data owned by this app: daily check-ins and per-program schedules
for repeated measures. Repeated PHQ-9/GAD-7 answers themselves are ``measures.MeasureResponse``
rows (stored through ``measures.services.measure_submit``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.measures.registry import instrument_get

SCALE_MAX = 10
SLEEP_HOURS_MAX = Decimal("24")


class SleepQuality(models.IntegerChoices):
    VERY_POOR = 1, _("Very poor")
    POOR = 2, _("Poor")
    FAIR = 3, _("Fair")
    GOOD = 4, _("Good")
    VERY_GOOD = 5, _("Very good")


def _scale(label: Any) -> models.PositiveSmallIntegerField:  # type: ignore[type-arg]
    return models.PositiveSmallIntegerField(
        label, validators=[MinValueValidator(0), MaxValueValidator(SCALE_MAX)]
    )


class DailyCheckIn(models.Model):
    """One check-in per patient per local day (the patient's own time zone decides the day).

    A second check-in the same day edits this row (``checkin_save``); a missed day simply has
    no row, so charts show a gap rather than a zero.
    """

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="daily_checkins",
        # Indexed by checkin_one_per_day, which leads with it.
        db_index=False,
    )
    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    day = models.DateField(_("day"), help_text=_("The patient's local date."))
    mood = _scale(_("mood"))
    anxiety = _scale(_("anxiety"))
    sleep_hours = models.DecimalField(
        _("hours slept"),
        max_digits=3,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(SLEEP_HOURS_MAX)],
    )
    sleep_quality = models.PositiveSmallIntegerField(
        _("sleep quality"), choices=SleepQuality.choices
    )
    # Substance-use programs only; null elsewhere.
    craving = models.PositiveSmallIntegerField(
        _("craving"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(SCALE_MAX)],
    )
    used_since_last = models.BooleanField(_("used since last check-in"), null=True, blank=True)
    used_what = models.CharField(_("what you used"), max_length=200, blank=True)
    skills_used = models.JSONField(
        _("skills used today"), default=list, blank=True, help_text=_("Homework module slugs.")
    )
    note = models.TextField(_("note"), max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "day"], name="checkin_one_per_day"),
            models.CheckConstraint(
                condition=Q(mood__gte=0, mood__lte=SCALE_MAX)
                & Q(anxiety__gte=0, anxiety__lte=SCALE_MAX),
                name="checkin_scales_range",
            ),
            models.CheckConstraint(
                condition=Q(craving__isnull=True) | Q(craving__gte=0, craving__lte=SCALE_MAX),
                name="checkin_craving_range",
            ),
            models.CheckConstraint(
                condition=Q(sleep_hours__gte=0, sleep_hours__lte=SLEEP_HOURS_MAX),
                name="checkin_sleep_hours_range",
            ),
            models.CheckConstraint(
                condition=Q(sleep_quality__gte=1, sleep_quality__lte=5),
                name="checkin_sleep_quality_range",
            ),
            models.CheckConstraint(
                condition=Q(used_since_last=True) | Q(used_what=""),
                name="checkin_used_what_only_if_used",
            ),
        ]

    def __str__(self) -> str:
        return f"Check-in #{self.pk} ({self.day})"

    def clean(self) -> None:
        if self.used_since_last is not True and self.used_what:
            raise ValidationError({"used_what": _("Only say what you used if you answered yes.")})


def _default_instruments() -> list[str]:
    return ["phq9", "gad7"]


class MeasureSchedule(models.Model):
    """How often a program repeats its measures. Programs without a row use the defaults:
    PHQ-9 and GAD-7 (plus AUDIT-C and DAST-10 in substance-use programs) every 14 days from
    admission, and once more at discharge."""

    program = models.OneToOneField(
        "programs.Program", on_delete=models.CASCADE, related_name="measure_schedule"
    )
    interval_days = models.PositiveSmallIntegerField(
        _("repeat every (days)"),
        default=14,
        validators=[MinValueValidator(7), MaxValueValidator(90)],
    )
    instruments = models.JSONField(
        _("instruments"),
        default=_default_instruments,
        help_text=_('Instrument codes, e.g. ["phq9", "gad7", "auditc", "dast10"].'),
    )
    at_discharge = models.BooleanField(_("also at discharge"), default=True)
    # A window either side of the due date in which any completed instrument counts, so a
    # PHQ-9 given in session two days early is not asked again.
    grace_days = models.PositiveSmallIntegerField(
        _("counts if done this many days early"),
        default=3,
        validators=[MaxValueValidator(13)],
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_days__gte=7, interval_days__lte=90),
                name="measureschedule_interval_range",
            ),
            models.CheckConstraint(
                condition=Q(grace_days__lt=models.F("interval_days")),
                name="measureschedule_grace_below_interval",
            ),
        ]

    def __str__(self) -> str:
        return f"Measure schedule of {self.program}"

    def clean(self) -> None:
        codes = self.instruments if isinstance(self.instruments, list) else None
        if not codes or any(not isinstance(c, str) or instrument_get(c) is None for c in codes):
            raise ValidationError({"instruments": _("List known instrument codes.")})
        if self.grace_days >= self.interval_days:
            raise ValidationError({"grace_days": _("Keep the window shorter than the interval.")})
