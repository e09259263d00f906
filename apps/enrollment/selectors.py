"""Reads for enrollment, and the one place its access rule lives.

- A patient sees only their own applications, consents and plans.
- A clinician sees applications to programs they work in (``programs_for_staff``), and the
  plans of patients visible to them (``patients_visible_to``); admins see all.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from apps.accounts.models import Role
from apps.accounts.selectors import patient_get_for_viewer
from apps.enrollment.models import (
    OPEN_STATUSES,
    Application,
    ConsentDocument,
    ConsentSignature,
    ReleaseOfInformation,
    SafetyPlan,
    Status,
    TreatmentPlan,
)
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.measures.registry import Instrument, intake_instruments
from apps.programs.selectors import programs_for_staff
from apps.scheduling.models import Appointment, AppointmentKind, AppointmentStatus

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.programs.models import Program

STEPS = ("details", "screening", "consents", "insurance", "intake")


def applications_visible_to(*, user: User) -> QuerySet[Application]:
    if not user.is_authenticated:
        return Application.objects.none()
    if user.role == Role.PATIENT:
        return Application.objects.filter(patient=user)
    return Application.objects.filter(program__in=programs_for_staff(user=user))


def application_get_for_viewer(*, viewer: User, application_id: int) -> Application | None:
    return (
        applications_visible_to(user=viewer)
        .select_related("patient", "program", "decided_by")
        .filter(pk=application_id)
        .first()
    )


def application_get_for_staff(*, viewer: User, application_id: int) -> Application | None:
    """Like ``application_get_for_viewer`` but only for clinicians/admins (decisions)."""
    if not viewer.is_authenticated or viewer.role == Role.PATIENT:
        return None
    return application_get_for_viewer(viewer=viewer, application_id=application_id)


def application_open_for_patient(*, patient: User) -> Application | None:
    return (
        Application.objects.select_related("program")
        .filter(patient=patient, status__in=OPEN_STATUSES)
        .first()
    )


def application_latest_for_patient(*, patient: User) -> Application | None:
    return (
        Application.objects.select_related("program")
        .filter(patient=patient)
        .order_by("-created_at", "-id")
        .first()
    )


def _open_flag_exists() -> Exists:
    return Exists(
        SafetyFlag.objects.filter(
            patient=OuterRef("patient"),
            program=OuterRef("program"),
            acknowledged_at__isnull=True,
        )
    )


QUEUE_FILTERS = {
    "new": [Status.STARTED],
    "screened": [Status.SCREENED, Status.SUBMITTED],
    "intake": [Status.INTAKE_SCHEDULED],
    "decided": [Status.ADMITTED, Status.WAITLISTED, Status.REFERRED],
    "closed": [Status.WITHDRAWN, Status.DISCHARGED],
}


NEEDS_ACTION = [
    Status.STARTED,
    Status.SCREENED,
    Status.SUBMITTED,
    Status.INTAKE_SCHEDULED,
    Status.WAITLISTED,
]


def applications_queue(
    *,
    user: User,
    program_id: int | None = None,
    status_filter: str = "",
    flagged_only: bool = False,
    search: str = "",
) -> QuerySet[Application]:
    """The clinician's queue: flagged applications first, then oldest submitted first."""
    qs = (
        applications_visible_to(user=user)
        .select_related("patient", "program")
        .annotate(flagged=_open_flag_exists())
    )
    if program_id:
        qs = qs.filter(program_id=program_id)
    if status_filter in QUEUE_FILTERS:
        qs = qs.filter(status__in=QUEUE_FILTERS[status_filter])
    elif status_filter != "all":
        # The default view: applications that still need someone to act.
        qs = qs.filter(status__in=NEEDS_ACTION)
    if flagged_only:
        qs = qs.filter(flagged=True)
    search = (search or "").strip()
    if search:
        qs = qs.filter(
            Q(patient__full_name__icontains=search) | Q(patient__preferred_name__icontains=search)
        )
    return qs.order_by("-flagged", F("submitted_at").asc(nulls_first=True), "created_at")


# --- steps -------------------------------------------------------------------------------
def screening_battery(*, application: Application) -> list[Instrument]:
    return intake_instruments(substance_use=application.program.is_substance_use)


def screening_responses(*, application: Application) -> list[MeasureResponse]:
    return list(
        MeasureResponse.objects.filter(
            patient_id=application.patient_id, ref=f"application:{application.pk}"
        ).order_by("taken_at", "id")
    )


def screening_done_codes(*, application: Application) -> set[str]:
    return set(
        MeasureResponse.objects.filter(
            patient_id=application.patient_id, ref=f"application:{application.pk}"
        ).values_list("instrument", flat=True)
    )


def consent_applies(*, document: ConsentDocument, program: Program | None) -> bool:
    """Whether a program asks for this document: 42 CFR Part 2 consents only in
    substance-use programs, and nothing for a patient in no program."""
    return program is not None and (program.is_substance_use or not document.substance_use_only)


def consent_program_for_patient(*, patient: User) -> Program | None:
    """The program whose consents a patient signs: their open application's, else their own."""
    application = application_open_for_patient(patient=patient)
    if application is not None:
        return application.program
    profile = getattr(patient, "patient_profile", None)
    return profile.program if profile is not None else None


def consents_required(*, program: Program) -> list[ConsentDocument]:
    """The current (highest active) version of each consent this program needs."""
    docs = ConsentDocument.objects.filter(is_active=True).order_by("kind", "-version")
    if not program.is_substance_use:  # consent_applies, as a filter
        docs = docs.filter(substance_use_only=False)
    current: dict[str, ConsentDocument] = {}
    for doc in docs:
        current.setdefault(doc.kind, doc)
    return list(current.values())


def consents_outstanding(*, patient: User, program: Program) -> list[ConsentDocument]:
    """Current versions the patient has no signature in force for (a new version, or a
    revoked signature, asks to sign again)."""
    required = consents_required(program=program)
    signed = set(
        ConsentSignature.objects.filter(
            patient=patient, document__in=required, revoked_at__isnull=True
        ).values_list("document_id", flat=True)
    )
    return [doc for doc in required if doc.pk not in signed]


def application_missing_steps(*, application: Application) -> set[str]:
    missing = set()
    if application.details_done_at is None:
        missing.add("details")
    done = screening_done_codes(application=application)
    if any(i.code not in done for i in screening_battery(application=application)):
        missing.add("screening")
    if consents_outstanding(patient=application.patient, program=application.program):
        missing.add("consents")
    if application.insurance_done_at is None:
        missing.add("insurance")
    if application.intake_requested_at is None:
        missing.add("intake")
    return missing


def application_next_step(*, application: Application) -> str | None:
    missing = application_missing_steps(application=application)
    return next((s for s in STEPS if s in missing), None)


def signatures_for_patient(*, viewer: User, patient: User) -> QuerySet[ConsentSignature]:
    if patient_get_for_viewer(viewer=viewer, patient_id=patient.pk) is None:
        return ConsentSignature.objects.none()
    return ConsentSignature.objects.filter(patient=patient).select_related("document")


def signature_get_for_viewer(*, viewer: User, signature_id: int) -> ConsentSignature | None:
    signature = (
        ConsentSignature.objects.select_related("document", "patient")
        .filter(pk=signature_id)
        .first()
    )
    if signature is None:
        return None
    if patient_get_for_viewer(viewer=viewer, patient_id=signature.patient_id) is None:
        return None
    return signature


# --- plans -------------------------------------------------------------------------------
def plan_patient_get_for_viewer(*, viewer: User, patient_id: int) -> User | None:
    """The patient whose plans ``viewer`` may read and edit (self, or a visible patient)."""
    return patient_get_for_viewer(viewer=viewer, patient_id=patient_id)


def treatment_plans(*, patient: User) -> QuerySet[TreatmentPlan]:
    """Unchecked: callers got ``patient`` from ``plan_patient_get_for_viewer``."""
    return (
        TreatmentPlan.objects.filter(patient=patient)
        .select_related("created_by")
        .prefetch_related("goals")
    )


def safety_plans(*, patient: User) -> QuerySet[SafetyPlan]:
    """Unchecked: callers got ``patient`` from ``plan_patient_get_for_viewer``."""
    return SafetyPlan.objects.filter(patient=patient).select_related("created_by")


def safety_plan_current(*, patient: User) -> SafetyPlan | None:
    return safety_plans(patient=patient).first()


def in_treatment(patients: QuerySet[User]) -> QuerySet[User]:
    """Patients whose latest application is admitted, or who never applied (added before
    enrollment existed): registered with accounts as the in-treatment rule."""
    latest = (
        Application.objects.filter(patient=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("status")[:1]
    )
    return patients.annotate(_latest_episode=Subquery(latest)).filter(
        Q(_latest_episode__isnull=True) | Q(_latest_episode=Status.ADMITTED)
    )


def intake_booked(*, application: Application) -> Appointment | None:
    """The applicant's booked (not yet held) intake appointment, if any."""
    return (
        Appointment.objects.filter(
            patient_id=application.patient_id,
            program_id=application.program_id,
            kind=AppointmentKind.INTAKE,
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.REQUESTED],
            ends_at__gt=timezone.now(),
        )
        .select_related("clinician")
        .order_by("starts_at")
        .first()
    )


def intake_held(*, application: Application, now: dt.datetime | None = None) -> bool:
    """An intake appointment with this applicant has taken place (ended, not cancelled or
    missed): the assessment admission follows from."""
    return Appointment.objects.filter(
        patient_id=application.patient_id,
        program_id=application.program_id,
        kind=AppointmentKind.INTAKE,
        status__in=[AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED],
        ends_at__lte=now or timezone.now(),
    ).exists()


# --- releases of information and revocation ----------------------------------------------
def patient_zone(patient: User) -> zoneinfo.ZoneInfo:
    tz = patient.time_zone
    if not isinstance(tz, zoneinfo.ZoneInfo):
        try:
            tz = zoneinfo.ZoneInfo(str(tz or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = zoneinfo.ZoneInfo("UTC")
    return tz


def patient_today(patient: User) -> dt.date:
    """The date in the patient's own zone: a release runs to the end of its expiry day
    there, and a revocation dated today means the patient's today."""
    return timezone.localdate(timezone=patient_zone(patient))


def release_state(release: ReleaseOfInformation, *, today: dt.date | None = None) -> str:
    """ "draft" (not signed), "revoked", "expired" or "active". Reads ``release.revocation``
    (select it with the release)."""
    today = today or patient_today(release.patient)
    if release.signed_at is None:
        return "draft"
    revocation = getattr(release, "revocation", None)
    if revocation is not None and revocation.effective_on <= today:
        return "revoked"
    if release.expires_on is not None and release.expires_on < today:
        return "expired"
    if release.event_happened_on is not None and release.event_happened_on <= today:
        return "expired"  # staff confirmed its expiry event (``release_event_confirm``)
    return "active"


def release_is_active(release: ReleaseOfInformation, *, today: dt.date | None = None) -> bool:
    """Whether the program may disclose under ``release`` today: signed, not revoked, not
    past its expiry date, its expiry event (if any) not confirmed by staff as happened."""
    return release_state(release, today=today) == "active"


def release_is_active_now(*, release_id: int) -> bool:
    """Read fresh from the database: used where a decision must see a revocation made a
    moment ago (a guest link opened, a disclosure recorded)."""
    release = (
        ReleaseOfInformation.objects.select_related("patient", "revocation")
        .filter(pk=release_id)
        .first()
    )
    return release is not None and release_is_active(release)


def _releases_with_state(patient: User) -> list[ReleaseOfInformation]:
    today = patient_today(patient)
    releases = list(
        ReleaseOfInformation.objects.filter(patient=patient).select_related(
            "revocation", "created_by", "program", "renewal"
        )
    )
    for release in releases:
        release.patient = patient
        release.state = release_state(release, today=today)
    return releases


def releases_for_patient(*, viewer: User, patient: User) -> list[ReleaseOfInformation]:
    """The patient's releases, newest first, each with ``state`` set; none if ``viewer``
    may not see the patient."""
    if patient_get_for_viewer(viewer=viewer, patient_id=patient.pk) is None:
        return []
    return _releases_with_state(patient)


def releases_awaiting_event(releases: list[ReleaseOfInformation]) -> list[ReleaseOfInformation]:
    """Active releases that end on an event no one has confirmed yet: staff are asked."""
    return [r for r in releases if r.state == "active" and r.awaits_event_confirmation]


def releases_active_for(*, patient: User) -> list[ReleaseOfInformation]:
    """Unchecked: the caller decided the viewer may see ``patient``."""
    return [r for r in _releases_with_state(patient) if r.state == "active"]


def release_get_for_viewer(*, viewer: User, release_id: int) -> ReleaseOfInformation | None:
    """The release if ``viewer`` is its patient or may see the patient, else None."""
    release = (
        ReleaseOfInformation.objects.select_related(
            "patient", "program", "revocation", "created_by", "renewal"
        )
        .filter(pk=release_id)
        .first()
    )
    if release is None or not viewer.is_authenticated:
        return None
    if patient_get_for_viewer(viewer=viewer, patient_id=release.patient_id) is None:
        return None
    release.state = release_state(release)
    return release


def release_patient_for_drafter(*, viewer: User, patient_id: int) -> User | None:
    """Whom ``viewer`` may draft a release for: themself (a patient), or a patient of a
    program they work in (staff)."""
    if not viewer.is_authenticated:
        return None
    if viewer.role == Role.PATIENT and viewer.pk != patient_id:
        return None
    return patient_get_for_viewer(viewer=viewer, patient_id=patient_id)


def signatures_with_revocation(*, viewer: User, patient: User) -> list[ConsentSignature]:
    return list(signatures_for_patient(viewer=viewer, patient=patient).select_related("revocation"))
