"""Skills modules (versioned content), assignments, answers and clinician feedback."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.homework.schema import ModuleSpec


class SkillArea(models.TextChoices):
    STRESS = "stress_management", _("Stress management")
    EMOTION = "emotion_regulation", _("Emotion regulation")
    RELAPSE = "relapse_prevention", _("Relapse prevention")
    DISTRESS = "distress_tolerance", _("Distress tolerance")
    INTERPERSONAL = "interpersonal_effectiveness", _("Interpersonal effectiveness")
    MINDFULNESS = "mindfulness", _("Mindfulness")
    PSYCHOEDUCATION = "psychoeducation", _("Psychoeducation")


class Module(models.Model):
    """A skills module. Its content lives in immutable ``ModuleVersion`` rows; the fields here
    are what lists show, and admins may edit them (the loader leaves them alone until a file
    brings a newer version)."""

    slug = models.SlugField(unique=True, max_length=60)
    title = models.CharField(_("title"), max_length=120)
    skill_area = models.CharField(_("skill area"), max_length=40, choices=SkillArea.choices)
    summary = models.TextField(_("summary"), max_length=600)
    estimated_minutes = models.PositiveSmallIntegerField(_("estimated minutes"))
    is_published = models.BooleanField(
        _("published"), default=True, help_text=_("Patients can start published modules.")
    )
    current_version = models.ForeignKey(
        "ModuleVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The version new assignments start on."),
    )

    class Meta:
        ordering = ["skill_area", "title"]

    def __str__(self) -> str:
        return self.title


class ModuleVersion(models.Model):
    """A snapshot of a module's content. Never changed once created: assignments point at the
    version they started on, so editing content cannot rewrite the questions under answers."""

    module = models.ForeignKey(
        Module,
        on_delete=models.CASCADE,
        related_name="versions",
        # Indexed by hw_moduleversion_unique, which leads with it.
        db_index=False,
    )
    version = models.PositiveIntegerField()
    content = models.JSONField(help_text=_("The validated module (ModuleSpec) as JSON."))
    content_hash = models.CharField(max_length=64)
    step_count = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["module", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["module", "version"], name="hw_moduleversion_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="hw_moduleversion_gte1"),
        ]

    def __str__(self) -> str:
        return f"{self.module.slug} v{self.version}"

    @cached_property
    def spec(self) -> ModuleSpec:
        return ModuleSpec.model_validate(self.content)


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    SUBMITTED = "submitted", _("Submitted")
    REVIEWED = "reviewed", _("Reviewed")


OPEN_STATUSES = (AssignmentStatus.ASSIGNED, AssignmentStatus.IN_PROGRESS)
LOCKED_STATUSES = (AssignmentStatus.SUBMITTED, AssignmentStatus.REVIEWED)


class Assignment(models.Model):
    """One patient's copy of a module: assigned by a clinician (``assigned_by``), to a whole
    group (``group``), optionally after a group session (``session``), or self-started (no
    assigner)."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="homework",
        # Indexed by hw_assignment_pat_status, which leads with it.
        db_index=False,
    )
    module = models.ForeignKey(Module, on_delete=models.PROTECT, related_name="assignments")
    module_version = models.ForeignKey(
        ModuleVersion, on_delete=models.PROTECT, related_name="assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="homework_assigned",
    )
    group = models.ForeignKey(
        "scheduling.Group",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="homework_assignments",
        help_text=_("Set when assigned to the whole group at once."),
    )
    session = models.ForeignKey(
        "scheduling.Session",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="homework_assignments",
        help_text=_("The group session this follows (shown as “after Wednesday's group”)."),
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    note = models.TextField(_("note to the patient"), max_length=1000, blank=True)
    status = models.CharField(
        max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ASSIGNED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        ordering = ["due_date", "-created_at"]
        constraints = [
            # One open copy of a module per patient: assigning it again updates that copy.
            models.UniqueConstraint(
                fields=["patient", "module"],
                condition=Q(status__in=["assigned", "in_progress"]),
                name="hw_assignment_one_open_per_module",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in AssignmentStatus]),
                name="hw_assignment_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["patient", "status"], name="hw_assignment_pat_status")]

    def __str__(self) -> str:
        return f"Assignment {self.pk} ({self.module_id} for patient {self.patient_id})"

    @property
    def is_locked(self) -> bool:
        return self.status in LOCKED_STATUSES

    @property
    def is_self_started(self) -> bool:
        return self.assigned_by_id is None

    @property
    def is_overdue(self) -> bool:
        return (
            self.status in OPEN_STATUSES
            and self.due_date is not None
            and self.due_date < timezone.localdate()
        )

    @property
    def display_status(self) -> str:
        return "overdue" if self.is_overdue else self.status


class Response(models.Model):
    """The patient's answer to one step. ``value`` is the parsed, validated JSON of that step
    kind; ``client_seq`` is the highest autosave sequence applied, so a late, stale request
    cannot overwrite a newer answer."""

    assignment = models.ForeignKey(
        Assignment,
        on_delete=models.CASCADE,
        related_name="responses",
        # Indexed by hw_response_unique, which leads with it.
        db_index=False,
    )
    step_id = models.CharField(max_length=40)
    value = models.JSONField(default=dict)
    complete = models.BooleanField(default=False)
    client_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "step_id"], name="hw_response_unique")
        ]

    def __str__(self) -> str:
        return f"Response {self.pk} to step {self.step_id}"


class Feedback(models.Model):
    """A clinician's comment on a submission (one per review round)."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="feedback")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="homework_feedback"
    )
    body = models.TextField(_("feedback"), max_length=4000)
    reopened = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Feedback {self.pk} on assignment {self.assignment_id}"
