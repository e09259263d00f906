"""Reads, and the one place that decides who may see or change a patient's medications:
the patient themselves (read, and report their own), and clinicians of the patient's program
(read and edit). Admins manage the list through Django admin only."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from apps.accounts.models import ClinicianProfile, Role, User
from apps.accounts.selectors import patients_visible_to
from apps.medications.models import (
    AdherenceAnswer,
    Allergy,
    AllergyReview,
    Medication,
    Reconciliation,
    Status,
)

ADHERENCE_DAYS = 14


def medication_patient_get(*, viewer: User, patient_id: int) -> User | None:
    """The patient whose list ``viewer`` may read, else None (views answer 404)."""
    if not viewer.is_authenticated:
        return None
    if viewer.role == Role.PATIENT:
        return viewer if viewer.pk == patient_id else None
    if viewer.role != Role.CLINICIAN:
        return None
    return (
        patients_visible_to(user=viewer)
        .select_related("patient_profile__program")
        .filter(pk=patient_id)
        .first()
    )


def can_edit(*, viewer: User, patient: User) -> bool:
    """Only clinicians of the patient's program change the list (patients report, clinicians
    reconcile)."""
    return bool(
        viewer.is_authenticated
        and viewer.role == Role.CLINICIAN
        and medication_patient_get(viewer=viewer, patient_id=patient.pk) is not None
    )


def medications_for(*, patient: User) -> QuerySet[Medication]:
    return Medication.objects.filter(patient=patient).select_related(
        "prescriber", "reconciled_by", "entered_by"
    )


def medication_get(*, patient: User, medication_id: int) -> Medication | None:
    return medications_for(patient=patient).filter(pk=medication_id).first()


def allergies_for(*, patient: User) -> QuerySet[Allergy]:
    return Allergy.objects.filter(patient=patient, entered_in_error_at__isnull=True).select_related(
        "recorded_by"
    )


def no_known_allergies(*, patient: User) -> AllergyReview | None:
    """The clinician's "no known allergies", if it stands (no allergy recorded since)."""
    review = (
        AllergyReview.objects.filter(patient=patient, no_known_allergies=True)
        .select_related("reviewed_by")
        .first()
    )
    if review is None or allergies_for(patient=patient).exists():
        return None
    return review


def has_active_medications(*, patient: User) -> bool:
    """Active and not marked "not taking" by a clinician."""
    return (
        Medication.objects.filter(patient=patient, status=Status.ACTIVE)
        .exclude(reconciliation=Reconciliation.NOT_TAKING)
        .exists()
    )


def prescribers_for(*, patient: User) -> QuerySet[User]:
    """Clinicians who may be named as the in-house prescriber: any clinician of the patient's
    program (prescribers first)."""
    program = getattr(getattr(patient, "patient_profile", None), "program", None)
    if program is None:
        return User.objects.none()
    return (
        User.objects.filter(role=Role.CLINICIAN, is_active=True, program_staff__program=program)
        .select_related("clinician_profile")
        .distinct()
        .order_by("full_name")
    )


def is_prescriber(user: User) -> bool:
    return ClinicianProfile.objects.filter(user=user).exclude(prescriber_role="").exists()


def adherence_recent(
    *, patient: User, today: dt.date, days: int = ADHERENCE_DAYS
) -> list[AdherenceAnswer]:
    since = today - dt.timedelta(days=days - 1)
    return list(
        AdherenceAnswer.objects.filter(patient=patient, day__gte=since, day__lte=today).order_by(
            "-day"
        )
    )


def adherence_answer_for(*, patient: User, day: dt.date) -> str | None:
    return (
        AdherenceAnswer.objects.filter(patient=patient, day=day)
        .values_list("answer", flat=True)
        .first()
    )
