"""Who may read and change which patient's diagnoses, and the reads other apps use.

The rules, in one place:
- staff read a patient's diagnoses when ``patients_visible_to`` shows them the patient
  (clinicians of the patient's program; admins);
- clinicians of the patient's program add, edit and resolve them; admins only read;
- a patient reads their own list (read-only, on their My progress page and plan) because
  the diagnoses already appear in the signed notes they may read (open notes);
- nobody else, and a refusal looks like "not found".
Callers audit their reads; these selectors do not know why they are asked."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from apps.accounts.http import is_staff
from apps.accounts.models import Role
from apps.accounts.selectors import patients_visible_to
from apps.diagnoses.models import Diagnosis, DiagnosisStatus, LevelOfCareJustification, Rank
from apps.programs.models import ProgramKind

if TYPE_CHECKING:
    from apps.accounts.models import User


def can_write(user: User) -> bool:
    return user.is_authenticated and user.role == Role.CLINICIAN


def patient_get_for_staff(*, viewer: User, patient_id: int) -> User | None:
    """The patient if ``viewer`` is staff who may see them, else None."""
    if not is_staff(viewer):
        return None
    return (
        patients_visible_to(user=viewer)
        .select_related("patient_profile__program")
        .filter(pk=patient_id)
        .first()
    )


def diagnosis_get_for_writer(*, viewer: User, diagnosis_id: int) -> Diagnosis | None:
    """The diagnosis if ``viewer`` is a clinician of its patient's program, else None."""
    if not can_write(viewer):
        return None
    return (
        Diagnosis.objects.select_related("patient")
        .filter(pk=diagnosis_id, patient__in=patients_visible_to(user=viewer))
        .first()
    )


def _primary_first(qs: QuerySet[Diagnosis]) -> QuerySet[Diagnosis]:
    return qs.annotate(
        _rank_order=Case(
            When(rank=Rank.PRIMARY, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
    ).order_by("_rank_order", "added_at", "pk")


def diagnoses_for_patient(*, patient: User) -> list[Diagnosis]:
    """All of ``patient``'s diagnoses, active ones first, each group primary first."""
    rows = list(
        _primary_first(Diagnosis.objects.filter(patient=patient)).select_related(
            "added_by", "resolved_by"
        )
    )
    return sorted(rows, key=lambda d: d.status != DiagnosisStatus.ACTIVE)


def diagnoses_active(*, patient: User) -> list[Diagnosis]:
    return list(
        _primary_first(
            Diagnosis.objects.filter(patient=patient, status=DiagnosisStatus.ACTIVE)
        ).select_related("added_by")
    )


def diagnoses_active_on(*, patient: User, day: dt.date) -> list[Diagnosis]:
    """The diagnoses ``patient`` had on ``day``, primary first: for claims and notes.

    A diagnosis counts from its onset (or, without one, the day it was entered) up to the
    day before it was resolved. The rank is today's: a primary that was demoted later is
    listed as secondary (the row history has the rank on any past day if a payer asks).
    The caller audits the read."""
    started = Q(onset_date__lte=day) | Q(onset_date__isnull=True, added_at__date__lte=day)
    not_ended = Q(resolved_date__isnull=True) | Q(resolved_date__gt=day)
    return list(_primary_first(Diagnosis.objects.filter(started, not_ended, patient=patient)))


def uses_level_of_care_text(patient: User) -> bool:
    """Mental-health (and adolescent) programs justify the level of care in a short text;
    substance-use programs use the ASAM dimensions in a note instead."""
    profile = getattr(patient, "patient_profile", None)
    program = profile.program if profile is not None else None
    return program is not None and program.kind != ProgramKind.SUBSTANCE_USE


def level_of_care_latest(*, patient: User) -> LevelOfCareJustification | None:
    return (
        LevelOfCareJustification.objects.filter(patient=patient)
        .select_related("author")
        .order_by("-effective_date", "-created_at")
        .first()
    )


def level_of_care_history(*, patient: User) -> list[LevelOfCareJustification]:
    return list(
        LevelOfCareJustification.objects.filter(patient=patient)
        .select_related("author")
        .order_by("-effective_date", "-created_at")
    )
