"""Who may see which patient. The one place the rule lives for accounts-level reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apps.accounts.models import PatientProfile, Role, User
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff


def patients_visible_to(*, user: User) -> QuerySet[User]:
    """Patients ``user`` may see: themselves (patient), their programs' patients (clinician),
    everyone (admin). Anonymous users see nobody."""
    patients = User.objects.filter(role=Role.PATIENT, is_active=True)
    if not user.is_authenticated:
        return patients.none()
    if user.role == Role.ADMIN:
        return patients
    if user.role == Role.CLINICIAN:
        return patients.filter(patient_profile__program__in=programs_for_staff(user=user))
    return patients.filter(pk=user.pk)


def patient_get_for_viewer(*, viewer: User, patient_id: int) -> User | None:
    """The patient if ``viewer`` may see them, else None (callers answer 404)."""
    return patients_visible_to(user=viewer).filter(pk=patient_id).first()


def user_can_see_patient(*, viewer: User, patient: User) -> bool:
    return patients_visible_to(user=viewer).filter(pk=patient.pk).exists()


# Which patients are in treatment is enrollment's to say (admission), and pages of lower or
# sibling apps (scheduling's hours report, progress's caseload) need it: enrollment registers
# the rule here at start-up (apps/enrollment/apps.py), so it is written once.
_in_treatment_rules: list[Callable[[QuerySet[User]], QuerySet[User]]] = []


def register_in_treatment_rule(rule: Callable[[QuerySet[User]], QuerySet[User]]) -> None:
    if rule not in _in_treatment_rules:
        _in_treatment_rules.append(rule)


def patients_in_treatment(patients: QuerySet[User]) -> QuerySet[User]:
    """``patients`` narrowed to those in treatment now (not applicants, waitlisted, referred,
    withdrawn or discharged), by every registered rule."""
    for rule in _in_treatment_rules:
        patients = rule(patients)
    return patients


def program_for_patient(*, user: User) -> Program | None:
    related = User.patient_profile.related
    if not related.is_cached(user):
        # Profile and program in one query (the crisis banner asks on every patient page),
        # kept on the user object as the reverse one-to-one accessor would keep it.
        profile = PatientProfile.objects.select_related("program").filter(user=user).first()
        related.set_cached_value(user, profile)
    profile = getattr(user, "patient_profile", None)
    return profile.program if profile is not None else None


def crisis_info_for_user(user: User) -> dict[str, Any]:
    """What the crisis banner shows: the patient's program's line, else the clinic's."""
    program = program_for_patient(user=user)
    return {
        "text": program.crisis_text if program else "Call or text 988",
        "clinic_phone": (
            program.clinic_phone if program and program.clinic_phone else settings.CLINIC_PHONE
        ),
        "program": program,
    }


def clinicians_to_alert(*, patient: User) -> list[User]:
    """Who hears first about a patient (a safety flag, a revoked consent): their primary
    clinician, else every clinician of their program."""
    profile = getattr(patient, "patient_profile", None)
    if profile is None:
        return []
    if profile.primary_clinician_id and profile.primary_clinician.is_active:
        return [profile.primary_clinician]
    if profile.program_id is None:
        return []
    return list(
        User.objects.filter(
            program_staff__program_id=profile.program_id, role=Role.CLINICIAN, is_active=True
        ).distinct()
    )
