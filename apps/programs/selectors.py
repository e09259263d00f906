"""Reads about programs, and the one place that decides which programs a user works in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet

from apps.programs.models import Program

if TYPE_CHECKING:
    from apps.accounts.models import User


def programs_for_staff(*, user: User) -> QuerySet[Program]:
    """Programs whose patients this user may see. Admins see every program."""
    if not user.is_authenticated:
        return Program.objects.none()
    if user.role == "admin":
        return Program.objects.all()
    if user.role == "clinician":
        return Program.objects.filter(staff__user=user)
    return Program.objects.none()


def program_for_patient(*, user: User) -> Program | None:
    from apps.accounts.models import PatientProfile
    from apps.accounts.models import User as UserModel

    related = UserModel.patient_profile.related  # type: ignore[attr-defined]
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
