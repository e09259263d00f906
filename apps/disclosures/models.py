"""A disclosure made under a release of information: what went to whom, when, by whom. Rows
are written once and never changed (the log is the record the patient may ask for)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DisclosureKind(models.TextChoices):
    REFERRAL_LETTER = "referral_letter", _("Referral letter")
    RECORDS = "records", _("Copy of records")
    SUMMARY = "summary", _("Treatment or discharge summary")
    VERBAL = "verbal", _("Spoken update (phone or in person)")
    APPOINTMENT_TIMES = "appointment_times", _("Appointment times")
    OTHER = "other", _("Other")


class Disclosure(models.Model):
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="disclosures",
        # Indexed by the (patient, disclosed_at) index, which leads with it.
        db_index=False,
    )
    release = models.ForeignKey(
        "enrollment.ReleaseOfInformation", on_delete=models.PROTECT, related_name="disclosures"
    )
    # Copied from the release when logged, so the log reads the same if names are edited.
    recipient = models.CharField(_("recipient"), max_length=150)
    kind = models.CharField(_("what was sent"), max_length=20, choices=DisclosureKind.choices)
    description = models.CharField(_("description"), max_length=300)
    method = models.CharField(
        _("how it was sent"), max_length=60, blank=True, help_text=_("e.g. fax, secure e-mail")
    )
    disclosed_at = models.DateTimeField(_("disclosed at"))
    # None: sent by the platform itself under the release (an appointment-time e-mail).
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # What sent it, for disclosures the platform makes ("outbox:<id>"): one per sending,
    # however often the sending is retried. Blank for those staff log by hand.
    source_key = models.CharField(max_length=60, blank=True, default="", editable=False)
    # The 42 CFR 2.32 notice that went with it, as sent; blank outside Part 2.
    part2_notice = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-disclosed_at", "-id"]
        indexes = [models.Index(fields=["patient", "disclosed_at"], name="disclosure_patient_at")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in DisclosureKind]),
                name="disclosure_kind_valid",
            ),
            models.UniqueConstraint(
                fields=["source_key"],
                condition=~models.Q(source_key=""),
                name="disclosure_source_once",
            ),
            models.CheckConstraint(
                condition=models.Q(by__isnull=False) | ~models.Q(source_key=""),
                name="disclosure_by_or_source",
            ),
        ]

    def __str__(self) -> str:
        return f"Disclosure #{self.pk}"
