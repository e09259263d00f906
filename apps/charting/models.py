"""The clinical record: note templates, notes (individual and the per-member part of a group
note), group notes, addenda, co-signatures, withholding and psychotherapy notes.

A signed note never changes (``SignedRecord``: ``save`` refuses, admin shows it read-only).
What happens to a note after signing lives in rows of its own (``Addendum``, ``Cosignature``,
``Withholding``), so the signed row itself stays exactly as signed.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.charting.schema import TemplateSpec
from apps.core.signed import SignedRecord
from apps.scheduling.models import PatientLocation


class NoteTemplate(models.Model):
    """One version of a note template. Never changed once created: notes point at the version
    they were written on."""

    slug = models.SlugField(max_length=60, db_index=False)  # notetemplate_unique leads with it
    version = models.PositiveIntegerField()
    title = models.CharField(_("title"), max_length=120)
    kind = models.CharField(_("kind"), max_length=12)
    content = models.JSONField(help_text=_("The validated template (TemplateSpec) as JSON."))
    content_hash = models.CharField(max_length=64)
    is_active = models.BooleanField(_("offered for new notes"), default=True)
    source = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="notetemplate_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    @cached_property
    def spec(self) -> TemplateSpec:
        return TemplateSpec.model_validate(self.content)


class Modality(models.TextChoices):
    VIDEO = "video", _("Video")
    AUDIO = "audio", _("Audio only")
    IN_PERSON = "in_person", _("In person")


class Risk(models.TextChoices):
    NONE = "none", _("No current risk")
    LOW = "low", _("Low")
    MODERATE = "moderate", _("Moderate")
    HIGH = "high", _("High")


# Place of service: 10 telehealth in the patient's home, 02 telehealth elsewhere, 11 office.
PLACE_OF_SERVICE_CHOICES = [
    ("10", _("10 · Telehealth in the patient's home")),
    ("02", _("02 · Telehealth, not in the patient's home")),
    ("11", _("11 · Office")),
]


class DocumentationPolicy(models.Model):
    """A program's documentation settings (admin-edited)."""

    program = models.OneToOneField(
        "programs.Program", on_delete=models.CASCADE, related_name="documentation_policy"
    )
    late_after_hours = models.PositiveSmallIntegerField(
        _("a note is late when signed more than this many hours after the session"), default=72
    )
    open_notes = models.BooleanField(
        _("patients may read their signed notes (open notes)"), default=True
    )
    withhold_reasons = models.TextField(
        _("reasons a note may be withheld from the patient, one per line"),
        default=(
            "Preventing substantial harm to the patient or another person\n"
            "Information about another person given in confidence\n"
            "Patient asked that it not be shared yet\n"
            "Other (explained in the record)"
        ),
    )

    class Meta:
        verbose_name = _("documentation policy")
        verbose_name_plural = _("documentation policies")

    def __str__(self) -> str:
        return f"Documentation policy for {self.program}"

    @property
    def reasons(self) -> list[str]:
        return [line.strip() for line in self.withhold_reasons.splitlines() if line.strip()]


class Supervision(models.Model):
    """A clinician whose notes need a supervisor's co-signature (e.g. pre-licensed, under an
    LCSW). A program setting, edited in admin."""

    program = models.ForeignKey("programs.Program", on_delete=models.CASCADE, related_name="+")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supervisions"
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="supervisees"
    )
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "clinician"],
                condition=Q(active=True),
                name="supervision_one_active",
            ),
            models.CheckConstraint(
                condition=~Q(clinician=models.F("supervisor")), name="supervision_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinician} supervised by {self.supervisor}"


class _Signed(SignedRecord, models.Model):
    """What an individual note and a group note share: author, template, sign-off."""

    program = models.ForeignKey("programs.Program", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(NoteTemplate, on_delete=models.PROTECT, related_name="+")
    content = models.JSONField(default=dict, blank=True)
    service_date = models.DateField(_("date of service"))
    started_at = models.DateTimeField(_("start"), null=True, blank=True)
    ended_at = models.DateTimeField(_("end"), null=True, blank=True)
    modality = models.CharField(
        _("modality"), max_length=10, choices=Modality.choices, default=Modality.VIDEO
    )
    # The last autosave applied: a save carrying a lower number arrived late and is ignored.
    draft_seq = models.BigIntegerField(default=0)
    signed_at = models.DateTimeField(null=True, blank=True)
    signature = models.CharField(_("signature"), max_length=150, blank=True)
    is_late = models.BooleanField(_("late"), default=False)
    # Who must co-sign, decided when signed (the author's supervisor then).
    cosigner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def minutes(self) -> int | None:
        if self.started_at and self.ended_at and self.ended_at > self.started_at:
            return int((self.ended_at - self.started_at) / dt.timedelta(minutes=1))
        return None


class GroupNote(_Signed):
    """The shared part of a group session's note: topic, interventions, process. Each attendee's
    own part is a ``Note`` pointing here; signing the group note signs them all at once."""

    session = models.OneToOneField(
        "scheduling.Session", on_delete=models.PROTECT, related_name="group_note"
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, signature="")
                | Q(signed_at__isnull=False) & ~Q(signature=""),
                name="groupnote_signature_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Group note {self.pk}"


class Note(_Signed):
    """A patient's note: an individual session, an assessment, or their part of a group note."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="notes",
        db_index=False,  # note_patient_day leads with it
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        related_name="notes",
        null=True,
        blank=True,
    )
    group_note = models.ForeignKey(
        GroupNote,
        on_delete=models.CASCADE,
        related_name="member_notes",
        null=True,
        blank=True,
    )
    location = models.CharField(
        _("patient's location"), max_length=10, choices=PatientLocation.choices, blank=True
    )
    location_place = models.CharField(_("city and state"), max_length=120, blank=True)
    place_of_service = models.CharField(
        _("place of service"), max_length=2, choices=PLACE_OF_SERVICE_CHOICES, blank=True
    )
    risk = models.CharField(_("risk"), max_length=10, choices=Risk.choices, default=Risk.NONE)
    risk_notes = models.TextField(_("risk assessment"), blank=True)
    safety_plan_reviewed = models.BooleanField(_("safety plan reviewed"), default=False)
    goals = models.ManyToManyField(
        "enrollment.TreatmentGoal", blank=True, related_name="notes", verbose_name=_("plan goals")
    )
    history = HistoricalRecords(m2m_fields=[goals])

    class Meta:
        ordering = ["-service_date", "-id"]
        indexes = [models.Index(fields=["patient", "-service_date"], name="note_patient_day")]
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, signature="")
                | Q(signed_at__isnull=False) & ~Q(signature=""),
                name="note_signature_complete",
            ),
            # One note per patient per appointment, and one part per member per group note.
            models.UniqueConstraint(
                fields=["appointment"],
                condition=Q(appointment__isnull=False),
                name="note_one_per_appointment",
            ),
            models.UniqueConstraint(
                fields=["group_note", "patient"],
                condition=Q(group_note__isnull=False),
                name="note_one_part_per_member",
            ),
            models.CheckConstraint(
                condition=Q(appointment__isnull=True) | Q(group_note__isnull=True),
                name="note_appointment_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"Note {self.pk}"


class Addendum(SignedRecord, models.Model):
    """A dated, signed correction or addition under a signed note (or a group note's shared
    part). Signed when written; never changed."""

    note = models.ForeignKey(
        Note, on_delete=models.PROTECT, related_name="addenda", null=True, blank=True
    )
    group_note = models.ForeignKey(
        GroupNote, on_delete=models.PROTECT, related_name="addenda", null=True, blank=True
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("addendum"))
    signature = models.CharField(max_length=150)
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["signed_at", "id"]
        verbose_name_plural = _("addenda")
        constraints = [
            models.CheckConstraint(
                condition=Q(note__isnull=False, group_note__isnull=True)
                | Q(note__isnull=True, group_note__isnull=False),
                name="addendum_note_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"Addendum {self.pk}"

    def is_signed(self) -> bool:
        return True


class Cosignature(SignedRecord, models.Model):
    """A supervisor's co-signature of a note or a group note. Billing waits for it."""

    note = models.OneToOneField(
        Note, on_delete=models.PROTECT, related_name="cosignature", null=True, blank=True
    )
    group_note = models.OneToOneField(
        GroupNote, on_delete=models.PROTECT, related_name="cosignature", null=True, blank=True
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signature = models.CharField(max_length=150)
    signed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(note__isnull=False, group_note__isnull=True)
                | Q(note__isnull=True, group_note__isnull=False),
                name="cosignature_note_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"Co-signature {self.pk}"

    def is_signed(self) -> bool:
        return True


class Withholding(models.Model):
    """A note kept from the patient's portal, with the reason (open-notes exceptions). Lifting
    it keeps the row: who withheld, why and when stays on record."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="withholdings")
    reason = models.CharField(_("reason"), max_length=200)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["note"], condition=Q(lifted_at__isnull=True), name="withholding_one_open"
            ),
        ]

    def __str__(self) -> str:
        return f"Withholding {self.pk}"


class PsychotherapyNote(models.Model):
    """HIPAA psychotherapy notes: the author's own process notes, kept apart from the record.
    Only their author reads them; never in the chart, exports, disclosures or the portal."""

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(_("psychotherapy note"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Psychotherapy note {self.pk}"
