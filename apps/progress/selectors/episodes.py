"""A patient's time zone, their "today", and their episode of care."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils import timezone

from apps.accounts.models import User
from apps.enrollment.models import Application, Status
from apps.measures.models import MeasureContext, MeasureResponse
from apps.programs.models import Program


def patient_zone(patient: User) -> ZoneInfo:
    tz = patient.time_zone
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(str(tz))


def local_today(patient: User, now: dt.datetime | None = None) -> dt.date:
    """Today in the patient's own time zone: it decides which day a check-in belongs to."""
    return (now or timezone.now()).astimezone(patient_zone(patient)).date()


def patient_program(patient: User) -> Program | None:
    profile = getattr(patient, "patient_profile", None)
    return profile.program if profile is not None else None


@dataclass(frozen=True)
class Episode:
    """The patient's episode of care as far as progress needs it. ``admitted_on`` comes from
    enrollment's admitted application (start date, else decision date); without one it falls
    back to the first intake measure, so patients who were added before enrollment existed
    (and the demo) still get a schedule."""

    admitted_on: dt.date | None
    discharged_on: dt.date | None = None
    application_id: int | None = None
    source: str = ""


def episode_for(*, patient: User) -> Episode:
    app: Application | None = (
        Application.objects.filter(patient=patient, status__in=[Status.ADMITTED, Status.DISCHARGED])
        .select_related("discharge")
        .order_by("-decided_at", "-id")
        .first()
    )
    tz = patient_zone(patient)
    if app is not None:
        admitted = app.start_date or (
            app.decided_at.astimezone(tz).date() if app.decided_at else None
        )
        discharged = None
        if app.status == Status.DISCHARGED:
            discharge = getattr(app, "discharge", None)
            when = discharge.discharged_at if discharge else app.status_changed_at
            discharged = when.astimezone(tz).date() if when else None
        if admitted is not None:
            return Episode(admitted, discharged, app.pk, "enrollment")
    first = (
        MeasureResponse.objects.filter(patient=patient, context=MeasureContext.INTAKE)
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
        .first()
    )
    if first is not None:
        return Episode(first.astimezone(tz).date(), None, None, "first_intake_measure")
    return Episode(None)
