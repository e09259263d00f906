"""Who may read whose progress: the one place this app's access rule lives.

- A patient sees only their own check-ins, measures and progress.
- A clinician sees the patients of programs they work in (``patients_visible_to``).
- Program admins see program-level outcomes (aggregates), not individual charts: the issue
  says only the patient and the clinicians of their program see any of it.
"""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.http import is_staff
from apps.accounts.models import Role, User
from apps.accounts.selectors import patients_visible_to
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff


def is_clinician(user: User) -> bool:
    return bool(user.is_authenticated and user.role == Role.CLINICIAN)


def progress_patient_get_for_viewer(*, viewer: User, patient_id: int) -> User | None:
    """The patient whose progress ``viewer`` may read: themselves, or (clinicians) a patient
    of a program they work in. Admins and everyone else get None (callers answer 404)."""
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


def outcome_programs_for(*, user: User) -> QuerySet[Program]:
    # Outcomes are aggregates: every staff role sees those of its programs.
    if not is_staff(user):
        return Program.objects.none()
    return programs_for_staff(user=user).order_by("name")
