"""Case management: a program's resource directory, referrals with their status path, needs
and goals with tasks, and who is a patient's case manager."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ResourceKind(models.TextChoices):
    OUTPATIENT_THERAPIST = "outpatient_therapist", _("Outpatient therapist")
    PSYCHIATRIST = "psychiatrist", _("Psychiatrist")
    SUPPORT_GROUP = "support_group", _("Support group")
    HOUSING = "housing", _("Housing")
    EMPLOYMENT = "employment", _("Employment")
    LEGAL = "legal", _("Legal")
    TRANSPORT = "transport", _("Transport")
    FOOD = "food", _("Food")
    OTHER = "other", _("Other")


# Referrals of these kinds are the continuing-care plan at discharge (step-down care).
CONTINUING_CARE_KINDS = (ResourceKind.OUTPATIENT_THERAPIST, ResourceKind.PSYCHIATRIST)


class Resource(models.Model):
    """An entry in a program's directory of outside services. Admins edit it in Django admin;
    an entry no longer used is made inactive, not deleted (referrals point at it)."""

    program = models.ForeignKey(
        "programs.Program",
        on_delete=models.CASCADE,
        related_name="resources",
        # Indexed by cm_resource_unique, which leads with it.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=24, choices=ResourceKind.choices)
    name = models.CharField(_("name"), max_length=160)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.URLField(_("website"), blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    areas_served = models.CharField(
        _("areas served"),
        max_length=300,
        blank=True,
        help_text=_('Comma-separated, e.g. "Oakland, Berkeley, Telehealth (CA)".'),
    )
    notes = models.TextField(
        _("notes"), blank=True, max_length=2000, help_text=_("For staff: intake hours, fees…")
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["program", "kind", "name"], name="cm_resource_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def areas(self) -> list[str]:
        return [a.strip() for a in self.areas_served.split(",") if a.strip()]

    def clean(self) -> None:
        # One spelling per area, so the directory's area filter lists each once.
        self.areas_served = ", ".join(dict.fromkeys(self.areas))


class CaseManagerAssignment(models.Model):
    """A clinician assigned as a patient's case manager. The assignment itself is the role:
    a case manager may serve patients of programs they do not otherwise work in, and sees
    those patients' case management (not the rest of their chart). One current case
    manager per patient; an ended assignment stays as history."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="case_manager_assignments",
        limit_choices_to={"role": "patient"},
    )
    case_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="case_load_assignments",
        limit_choices_to={"role": "clinician"},
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("since"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(ended_at__isnull=True),
                name="cm_assignment_one_current",
            )
        ]

    def __str__(self) -> str:
        return f"{self.case_manager} → {self.patient}"

    def clean(self) -> None:
        errors = {}
        if self.case_manager_id and self.case_manager.role != "clinician":
            errors["case_manager"] = _("A case manager is a clinician.")
        if self.patient_id and self.patient.role != "patient":
            errors["patient"] = _("Choose a patient.")
        if errors:
            raise ValidationError(errors)


class ReferralStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    APPOINTMENT_MADE = "appointment_made", _("Appointment made")
    COMPLETED = "completed", _("Completed")
    DECLINED = "declined", _("Declined")


# The status path; declined can end it at any step before completion.
REFERRAL_NEXT: dict[str, tuple[str, ...]] = {
    ReferralStatus.PROPOSED: (ReferralStatus.SENT, ReferralStatus.DECLINED),
    ReferralStatus.SENT: (ReferralStatus.ACCEPTED, ReferralStatus.DECLINED),
    ReferralStatus.ACCEPTED: (ReferralStatus.APPOINTMENT_MADE, ReferralStatus.DECLINED),
    ReferralStatus.APPOINTMENT_MADE: (ReferralStatus.COMPLETED, ReferralStatus.DECLINED),
    ReferralStatus.COMPLETED: (),
    ReferralStatus.DECLINED: (),
}
REFERRAL_OPEN = tuple(s for s, nxt in REFERRAL_NEXT.items() if nxt)


class Referral(models.Model):
    """A patient referred to a directory entry or to a named provider outside it."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="referrals",
        # Indexed by cm_referral_patient_status, which leads with it.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=24, choices=ResourceKind.choices)
    resource = models.ForeignKey(
        Resource,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("directory entry"),
    )
    provider_name = models.CharField(_("named provider"), max_length=200, blank=True)
    provider_contact = models.CharField(_("provider contact"), max_length=200, blank=True)
    reason = models.TextField(
        _("reason"), max_length=1000, blank=True, help_text=_("The patient sees this.")
    )
    staff_note = models.TextField(
        _("staff note"), max_length=2000, blank=True, help_text=_("Only staff see this.")
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ReferralStatus.choices,
        default=ReferralStatus.PROPOSED,
    )
    appointment_at = models.DateTimeField(_("appointment"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"], name="cm_referral_patient_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(resource__isnull=False) | ~Q(provider_name=""),
                name="cm_referral_has_target",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReferralStatus.values), name="cm_referral_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Referral #{self.pk} ({self.get_kind_display()})"

    @property
    def target_name(self) -> str:
        if self.provider_name:
            return self.provider_name
        return self.resource.name if self.resource else ""

    @property
    def next_statuses(self) -> tuple[str, ...]:
        return REFERRAL_NEXT.get(self.status, ())

    @property
    def is_open(self) -> bool:
        return bool(self.next_statuses)


class ReferralEvent(models.Model):
    """One step on a referral's path: who moved it, from what to what, and on which day it
    happened (``occurred_on``, which staff may give as earlier than the day they record it)."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, choices=ReferralStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=ReferralStatus.choices)
    occurred_on = models.DateField(_("date"))
    recorded_at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["recorded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status}"


class NeedDomain(models.TextChoices):
    HOUSING = "housing", _("Housing")
    EMPLOYMENT = "employment", _("Employment")
    SCHOOL = "school", _("School")
    LEGAL = "legal", _("Legal")


class NeedStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    MET = "met", _("Met")
    CLOSED = "closed", _("No longer needed")


NEED_OPEN = (NeedStatus.OPEN, NeedStatus.IN_PROGRESS)


class Need(models.Model):
    """A need or goal in one life domain, worked on through tasks."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="case_needs",
        # Indexed by cm_need_patient_status, which leads with it.
        db_index=False,
    )
    domain = models.CharField(_("domain"), max_length=20, choices=NeedDomain.choices)
    description = models.TextField(_("need or goal"), max_length=1000)
    status = models.CharField(
        _("status"), max_length=20, choices=NeedStatus.choices, default=NeedStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain", "created_at", "pk"]
        indexes = [models.Index(fields=["patient", "status"], name="cm_need_patient_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=NeedStatus.values), name="cm_need_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(domain__in=NeedDomain.values), name="cm_need_domain_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_domain_display()} need #{self.pk}"


class Task(models.Model):
    """A step towards a need, for the patient or for a case manager (``assignee``)."""

    need = models.ForeignKey(Need, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(_("task"), max_length=200)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="case_tasks",
        # Indexed by cm_task_assignee_open, which leads with it.
        db_index=False,
    )
    due_date = models.DateField(_("due"), null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["done_at", "due_date", "pk"]
        indexes = [
            models.Index(fields=["assignee", "done_at", "due_date"], name="cm_task_assignee_open")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    @property
    def is_overdue(self) -> bool:
        return (
            self.done_at is None
            and self.due_date is not None
            and self.due_date < timezone.localdate()
        )
