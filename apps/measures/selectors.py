"""Reads for measures, and the one place their access rule lives: a clinician sees flags and
responses of patients in programs they work in; a patient sees only their own responses and
never the flag queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Case, IntegerField, QuerySet, Value, When

from apps.accounts.selectors import user_can_see_patient
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.programs.selectors import programs_for_staff

if TYPE_CHECKING:
    from apps.accounts.models import User


def _severity_order() -> Case:
    return Case(
        When(severity="urgent", then=Value(0)),
        When(severity="high", then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def flags_visible_to(*, user: User) -> QuerySet[SafetyFlag]:
    if not user.is_authenticated or user.role not in ("clinician", "admin"):
        return SafetyFlag.objects.none()
    return SafetyFlag.objects.filter(program__in=programs_for_staff(user=user))


def flags_open_for(*, user: User) -> QuerySet[SafetyFlag]:
    """Open flags, most severe and oldest first."""
    return (
        flags_visible_to(user=user)
        .filter(acknowledged_at__isnull=True)
        .select_related("patient", "program")
        .annotate(rank=_severity_order())
        .order_by("rank", "opened_at")
    )


def flags_list(*, user: User, include_closed: bool = False) -> QuerySet[SafetyFlag]:
    qs = flags_visible_to(user=user).select_related("patient", "program", "acknowledged_by")
    if not include_closed:
        qs = qs.filter(acknowledged_at__isnull=True)
    return qs.annotate(rank=_severity_order()).order_by("acknowledged_at", "rank", "opened_at")


def flag_get_for_viewer(*, viewer: User, flag_id: int) -> SafetyFlag | None:
    return (
        flags_visible_to(user=viewer)
        .select_related("patient", "program", "acknowledged_by", "response")
        .filter(pk=flag_id)
        .first()
    )


def open_flag_patient_ids(*, program_ids: list[int]) -> set[int]:
    return set(
        SafetyFlag.objects.filter(
            program_id__in=program_ids, acknowledged_at__isnull=True
        ).values_list("patient_id", flat=True)
    )


def responses_for_patient(*, viewer: User, patient: User) -> QuerySet[MeasureResponse]:
    """A patient's responses if ``viewer`` may see that patient, else none."""
    if not user_can_see_patient(viewer=viewer, patient=patient):
        return MeasureResponse.objects.none()
    return MeasureResponse.objects.filter(patient=patient)


def response_by_ref(*, patient: User, instrument: str, ref: str) -> MeasureResponse | None:
    """Unchecked read of the response a caller stored under ``ref`` (e.g. an application's
    intake or discharge questionnaires); callers hold access already."""
    return MeasureResponse.objects.filter(patient=patient, instrument=instrument, ref=ref).first()


def latest_by_context(*, patient: User, instrument: str, context: str) -> MeasureResponse | None:
    """Unchecked read for services that already hold access (e.g. discharge summaries)."""
    return (
        MeasureResponse.objects.filter(patient=patient, instrument=instrument, context=context)
        .order_by("-taken_at", "-id")
        .first()
    )
