from __future__ import annotations

import uuid
from pathlib import PurePath
from typing import cast

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.db import models
from django.db.models import Q
from django.utils.functional import LazyObject
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.core.signed import SignedRecord


class Status(models.TextChoices):
    STARTED = "started", _("Application started")
    SCREENED = "screened", _("Screening done")
    SUBMITTED = "submitted", _("Submitted, waiting for intake")
    INTAKE_SCHEDULED = "intake_scheduled", _("Intake scheduled")
    ADMITTED = "admitted", _("Admitted")
    WAITLISTED = "waitlisted", _("Waitlisted")
    REFERRED = "referred", _("Referred to another level of care")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    DISCHARGED = "discharged", _("Discharged")


# The state machine. Anything not listed is refused (and audited) by application_transition.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.STARTED: frozenset({Status.SCREENED, Status.WITHDRAWN}),
    Status.SCREENED: frozenset({Status.SUBMITTED, Status.WITHDRAWN}),
    Status.SUBMITTED: frozenset({Status.INTAKE_SCHEDULED, Status.WITHDRAWN}),
    Status.INTAKE_SCHEDULED: frozenset(
        {
            Status.INTAKE_SCHEDULED,  # rescheduling
            Status.ADMITTED,
            Status.WAITLISTED,
            Status.REFERRED,
            Status.WITHDRAWN,
        }
    ),
    Status.WAITLISTED: frozenset(
        {Status.WAITLISTED, Status.ADMITTED, Status.REFERRED, Status.WITHDRAWN}
    ),
    Status.ADMITTED: frozenset({Status.DISCHARGED}),
    Status.REFERRED: frozenset(),
    Status.WITHDRAWN: frozenset(),
    Status.DISCHARGED: frozenset(),
}
OPEN_STATUSES = frozenset(
    {
        Status.STARTED,
        Status.SCREENED,
        Status.SUBMITTED,
        Status.INTAKE_SCHEDULED,
        Status.WAITLISTED,
        Status.ADMITTED,
    }
)
DECIDED_STATUSES = frozenset({Status.ADMITTED, Status.WAITLISTED, Status.REFERRED})


class Relationship(models.TextChoices):
    SELF = "self", _("Self")
    SPOUSE = "spouse", _("Spouse or partner")
    PARENT = "parent", _("Parent")
    OTHER = "other", _("Other")


class Application(models.Model):
    """A patient's way into a program and, once admitted, their episode of care."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applications"
    )
    program = models.ForeignKey(
        "programs.Program",
        on_delete=models.PROTECT,
        related_name="applications",
        # Indexed by the (program, status) index, which leads with it.
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.STARTED
    )
    # Step 1: about you
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    state = models.CharField(_("state of residence"), max_length=2, blank=True)
    emergency_name = models.CharField(_("emergency contact name"), max_length=150, blank=True)
    emergency_phone = models.CharField(_("emergency contact phone"), max_length=40, blank=True)
    emergency_relationship = models.CharField(_("relationship"), max_length=60, blank=True)
    heard_from = models.CharField(_("how you heard about us"), max_length=200, blank=True)
    current_treatment = models.TextField(_("current treatment"), blank=True)
    reason = models.TextField(_("reason for seeking care"), blank=True)
    details_done_at = models.DateTimeField(null=True, blank=True)
    # Insurance step (the details live in Insurance)
    insurance_done_at = models.DateTimeField(null=True, blank=True)
    # Intake request
    preferred_times = models.JSONField(default=list, blank=True)
    intake_notes = models.CharField(_("anything we should know"), max_length=500, blank=True)
    intake_requested_at = models.DateTimeField(null=True, blank=True)
    intake_at = models.DateTimeField(_("intake appointment"), null=True, blank=True)
    # Decision
    start_date = models.DateField(_("start date"), null=True, blank=True)
    waitlist_position = models.PositiveSmallIntegerField(null=True, blank=True)
    waitlist_expected = models.DateField(null=True, blank=True)
    referral_reason = models.TextField(_("referral reason"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open episode per patient.
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="application_one_open_per_patient",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in Status]),
                name="application_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["program", "status"])]

    def __str__(self) -> str:
        return f"Application #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Transition(models.Model):
    """The history the patient and clinicians see: every state change, who and when."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="transitions"
    )
    from_status = models.CharField(max_length=20, choices=Status.choices)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    at = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


class ConsentKind(models.TextChoices):
    TELEHEALTH = "telehealth", _("Telehealth informed consent")
    TREATMENT = "treatment", _("Consent to treatment")
    GROUP = "group", _("Group confidentiality agreement")
    PART2 = "part2", _("42 CFR Part 2 consent to disclose substance-use records")


PART2_NOTICE = _(
    "42 CFR part 2 prohibits unauthorized use or disclosure of these records. "
    "This information has been disclosed to you from records protected by federal "
    "confidentiality rules (42 CFR part 2). The federal rules prohibit you from making any "
    "further disclosure of information in this record that identifies a patient as having or "
    "having had a substance use disorder either directly, by reference to publicly available "
    "information, or through verification of such identification by another person unless "
    "further disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed or as otherwise permitted by 42 CFR part 2. A general "
    "authorization for the release of medical or other information is NOT sufficient for this "
    "purpose (see § 2.31). The federal rules restrict any use of the information to "
    "investigate or prosecute with regard to a crime any patient with a substance use "
    "disorder, except as provided at §§ 2.12(c)(5) and 2.65."
)


class ConsentDocument(models.Model):
    """One version of one consent. A new version is a new row; signed versions are kept."""

    kind = models.CharField(max_length=20, choices=ConsentKind.choices)
    version = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(max_length=200)
    body = models.TextField(help_text=_("Plain text; blank lines separate paragraphs."))
    substance_use_only = models.BooleanField(
        default=False, help_text=_("Only asked in substance-use programs (42 CFR Part 2).")
    )
    is_active = models.BooleanField(default=True)
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="consentdocument_version")
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"


class ConsentSignature(SignedRecord, models.Model):
    """An e-signature: the exact document version, the typed name, when, from where."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="consent_signatures",
        # Indexed by consentsignature_patient_doc, which leads with it.
        db_index=False,
    )
    document = models.ForeignKey(
        ConsentDocument, on_delete=models.PROTECT, related_name="signatures"
    )
    application = models.ForeignKey(
        Application, on_delete=models.SET_NULL, null=True, blank=True, related_name="signatures"
    )
    typed_name = models.CharField(max_length=150)
    signed_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # Set (with a conditional update, as signing is) in the transaction that records the
    # ``Revocation``: the partial unique constraint below needs it on this row.
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-signed_at"]
        indexes = [
            models.Index(fields=["patient", "document"], name="consentsignature_patient_doc")
        ]
        constraints = [
            # A revoked signature stays on record and the patient may sign the same version
            # again; at most one signature per version is in force at a time.
            models.UniqueConstraint(
                fields=["patient", "document"],
                condition=Q(revoked_at__isnull=True),
                name="consentsignature_one_unrevoked",
            )
        ]

    def __str__(self) -> str:
        return f"Signature #{self.pk}"

    def is_signed(self) -> bool:
        return True  # a signature is signed from the moment it exists


class _PrivateStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = FileSystemStorage(location=str(settings.PRIVATE_MEDIA_ROOT), base_url=None)


private_storage = _PrivateStorage()


def private_storage_get() -> Storage:
    """A callable, so migrations refer to it by name instead of freezing a path."""
    return cast(Storage, private_storage)


def _card_path(instance: Insurance, filename: str) -> str:
    # Random names: no patient data in paths.
    suffix = PurePath(filename).suffix.lower()[:6]
    return f"insurance/{uuid.uuid4().hex}{suffix}"


class Insurance(models.Model):
    application = models.OneToOneField(
        Application, on_delete=models.CASCADE, related_name="insurance"
    )
    self_pay = models.BooleanField(_("self-pay"), default=False)
    payer = models.CharField(_("insurance company"), max_length=120, blank=True)
    member_id = models.CharField(_("member ID"), max_length=60, blank=True)
    group_number = models.CharField(_("group number"), max_length=60, blank=True)
    subscriber_relationship = models.CharField(
        _("subscriber relationship"), max_length=10, choices=Relationship.choices, blank=True
    )
    card_front = models.FileField(storage=private_storage_get, upload_to=_card_path, blank=True)
    card_front_type = models.CharField(max_length=40, blank=True)
    card_back = models.FileField(storage=private_storage_get, upload_to=_card_path, blank=True)
    card_back_type = models.CharField(max_length=40, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(self_pay=True) | ~Q(payer="") & ~Q(member_id=""),
                name="insurance_payer_or_self_pay",
            )
        ]

    def __str__(self) -> str:
        return f"Insurance for application #{self.application_id}"


class TreatmentPlan(SignedRecord, models.Model):
    """One version of a patient's treatment plan. A review writes a new version."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="treatment_plans",
        # Indexed by treatmentplan_version, which leads with it.
        db_index=False,
    )
    program = models.ForeignKey("programs.Program", on_delete=models.PROTECT, related_name="+")
    version = models.PositiveSmallIntegerField()
    problems = models.TextField(_("problems"))
    interventions = models.TextField(_("interventions"))
    review_date = models.DateField(_("review date"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    patient_signed_at = models.DateTimeField(null=True, blank=True)
    patient_signature = models.CharField(max_length=150, blank=True)

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="treatmentplan_version"),
            models.CheckConstraint(
                condition=Q(patient_signed_at__isnull=True, patient_signature="")
                | Q(patient_signed_at__isnull=False) & ~Q(patient_signature=""),
                name="treatmentplan_signature_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Treatment plan v{self.version}"

    def is_signed(self) -> bool:
        return self.patient_signed_at is not None


class TreatmentGoal(models.Model):
    plan = models.ForeignKey(TreatmentPlan, on_delete=models.CASCADE, related_name="goals")
    position = models.PositiveSmallIntegerField(default=0)
    goal = models.CharField(_("goal"), max_length=300)
    objective = models.CharField(_("measurable objective"), max_length=300)
    target_date = models.DateField(_("target date"))

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"Goal {self.position}"


class SafetyPlan(models.Model):
    """One version of a Stanley–Brown safety plan, in the patient's own words. Either the
    patient or a clinician may write a new version; old versions are kept."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="safety_plans",
        # Indexed by safetyplan_version, which leads with it.
        db_index=False,
    )
    version = models.PositiveSmallIntegerField()
    warning_signs = models.TextField(_("1. Warning signs"), blank=True)
    coping_strategies = models.TextField(_("2. Internal coping strategies"), blank=True)
    distractions = models.TextField(
        _("3. People and social settings that provide distraction"), blank=True
    )
    help_contacts = models.TextField(
        _("4. People I can ask for help (with phone numbers)"), blank=True
    )
    professionals = models.TextField(
        _("5. Professionals or agencies I can contact during a crisis"), blank=True
    )
    environment = models.TextField(_("6. Making the environment safe"), blank=True)
    reason_for_living = models.TextField(
        _("The one thing most important to me and worth living for"), blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="safetyplan_version")
        ]

    def __str__(self) -> str:
        return f"Safety plan v{self.version}"


class DischargeReason(models.TextChoices):
    COMPLETED = "completed", _("Completed the program")
    STEPPED_UP = "stepped_up", _("Stepped up to a higher level of care")
    STEPPED_DOWN = "stepped_down", _("Stepped down to a lower level of care")
    WITHDREW = "withdrew", _("Withdrew")
    NON_ATTENDANCE = "non_attendance", _("Non-attendance")


class Discharge(models.Model):
    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="discharge"
    )
    reason = models.CharField(_("reason"), max_length=20, choices=DischargeReason.choices)
    follow_up_provider = models.CharField(_("follow-up provider"), max_length=200, blank=True)
    follow_up_frequency = models.CharField(_("follow-up frequency"), max_length=100, blank=True)
    support_groups = models.TextField(_("support groups"), blank=True)
    relapse_prevention_link = models.URLField(_("relapse-prevention plan link"), blank=True)
    summary = models.TextField(_("summary"), blank=True)
    discharged_at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    # Who changed what, from what to what (django-simple-history).
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Discharge of application #{self.application_id}"


# --- Releases of information and revocation ------------------------------------------------
class RecipientKind(models.TextChoices):
    FAMILY = "family", _("Family member or friend")
    PROVIDER = "provider", _("Outside health-care provider")
    EMPLOYER = "employer", _("Employer or school")
    COURT = "court", _("Court, probation or attorney")
    OTHER = "other", _("Other person or organisation")


class DisclosureItem(models.TextChoices):
    """What a release lets the program disclose. Psychotherapy notes are never among them
    (HIPAA keeps them out of disclosures)."""

    ATTENDANCE = "attendance", _("Attendance and participation")
    APPOINTMENT_TIMES = "appointment_times", _("Appointment and session times")
    TREATMENT_PLAN = "treatment_plan", _("Treatment plan and goals")
    PROGRESS = "progress", _("Progress in treatment, including questionnaire scores")
    DIAGNOSIS = "diagnosis", _("Diagnosis")
    MEDICATIONS = "medications", _("Medications")
    SUBSTANCE_USE = "substance_use", _("Substance-use treatment information")
    DISCHARGE = "discharge", _("Discharge summary and continuing-care plan")


class ReleaseOfInformation(SignedRecord, models.Model):
    """A patient's consent to disclose named information to a named person or organisation.
    Drafted by the patient or a clinician; the patient signs it by typing their name, and the
    exact text they signed is kept with it (``signed_text``). Signed, it never changes; it
    ends by revocation (``Revocation``) or expiry."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="releases",
        # Indexed by the (patient, created_at) index, which leads with it.
        db_index=False,
    )
    program = models.ForeignKey("programs.Program", on_delete=models.PROTECT, related_name="+")
    recipient_kind = models.CharField(
        _("who receives it"), max_length=10, choices=RecipientKind.choices
    )
    recipient_name = models.CharField(_("name of the person or organisation"), max_length=150)
    recipient_relationship = models.CharField(
        _("relationship to you"), max_length=60, blank=True, help_text=_("e.g. sister, employer")
    )
    recipient_contact = models.CharField(
        _("their address, phone or e-mail"), max_length=200, blank=True
    )
    items = models.JSONField(_("what may be disclosed"), default=list)
    items_other = models.CharField(
        _("anything else that may be disclosed"), max_length=300, blank=True
    )
    purpose = models.CharField(_("purpose of the disclosure"), max_length=300)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    expiry_event = models.CharField(
        _("or expires when"),
        max_length=200,
        blank=True,
        help_text=_("An event, e.g. 'when I complete the program'."),
    )
    may_receive_appointment_times = models.BooleanField(
        _("may be told my appointment times"), default=False
    )
    # Where the appointment-time e-mails go (required when they are allowed): they carry
    # only the patient's first name and a time, and each one is logged as a disclosure.
    recipient_email = models.EmailField(_("their e-mail for appointment times"), blank=True)
    # An expiry *event* is judged by staff: one of the patient's clinicians confirms it
    # happened, and on which day; from that day the release is expired. Set with a
    # conditional update (the signed terms above never change).
    event_happened_on = models.DateField(_("the event happened on"), null=True, blank=True)
    event_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    event_confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The 42 CFR Part 2 notice shown with it in a substance-use program, stored as shown.
    part2_notice = models.TextField(blank=True)
    # A revoked release the patient chose to sign again: this draft is its copy. One copy
    # per revoked release (the one-to-one), so a double submit cannot make two.
    renews = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="renewal"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    signed_text = models.TextField(blank=True)
    typed_name = models.CharField(max_length=150, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    # Not stored: set by the selectors (``release_state``) when releases are read for a page.
    state: str = ""

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__isnull=False) | ~Q(expiry_event=""),
                name="roi_has_expiry",
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, typed_name="", signed_text="")
                | Q(signed_at__isnull=False) & ~Q(typed_name="") & ~Q(signed_text=""),
                name="roi_signature_complete",
            ),
            models.CheckConstraint(
                condition=Q(recipient_kind__in=[k.value for k in RecipientKind]),
                name="roi_recipient_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    event_happened_on__isnull=True,
                    event_confirmed_by__isnull=True,
                    event_confirmed_at__isnull=True,
                )
                | Q(
                    event_happened_on__isnull=False,
                    event_confirmed_by__isnull=False,
                    event_confirmed_at__isnull=False,
                    signed_at__isnull=False,
                )
                & ~Q(expiry_event=""),
                name="roi_event_confirmation_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Release of information #{self.pk}"

    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def is_part2(self) -> bool:
        return bool(self.part2_notice)

    @property
    def awaits_event_confirmation(self) -> bool:
        """Signed, ends on an event, and no one has confirmed the event yet."""
        return bool(self.signed_at and self.expiry_event and self.event_happened_on is None)

    @property
    def recipient_first_name(self) -> str:
        return (self.recipient_name.split() or [""])[0]

    def item_labels(self) -> list[str]:
        labels = dict(DisclosureItem.choices)
        return [str(labels[i]) for i in self.items if i in labels]


class Revocation(models.Model):
    """A patient's revocation of a signed consent or release. One per consent (the one-to-one
    fields refuse a second); it stops disclosures from ``effective_on``, never undoes those
    already made."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="revocations"
    )
    signature = models.OneToOneField(
        ConsentSignature,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="revocation",
    )
    release = models.OneToOneField(
        ReleaseOfInformation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="revocation",
    )
    effective_on = models.DateField(_("revoked as of"))
    reason = models.CharField(_("reason (optional)"), max_length=300, blank=True)
    revoked_at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-revoked_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(signature__isnull=False, release__isnull=True)
                | Q(signature__isnull=True, release__isnull=False),
                name="revocation_one_target",
            )
        ]

    def __str__(self) -> str:
        return f"Revocation #{self.pk}"
