"""A patient's time zone, their "today", and their episode of care."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
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


EPISODE_STATUSES = [Status.ADMITTED, Status.DISCHARGED]
# Stands in for "no lower bound", so one SQL condition serves every patient.
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def with_score_window(applications: QuerySet[Application]) -> QuerySet[Any]:
    """``applications`` annotated with the window of scores that belong to each one's episode
    of care: from when its application began (``scores_from``) until the patient's next
    application began (``scores_until``; None for their latest).

    A readmission starts with a new application and intake, so the baseline of "change
    since admission" is the first score of the current episode, never a score from an
    earlier admission. A patient's first application has no lower bound: scores given
    before it (in session, or before enrollment existed) are its baseline."""
    earlier = Application.objects.filter(patient=OuterRef("patient"), pk__lt=OuterRef("pk"))
    later = Application.objects.filter(patient=OuterRef("patient"), pk__gt=OuterRef("pk"))
    return applications.annotate(
        scores_from=Case(
            When(Exists(earlier), then=F("created_at")),
            default=None,
            output_field=DateTimeField(),
        ),
        scores_until=Subquery(later.order_by("pk").values("created_at")[:1]),
    )


def current_scores_from(patient: Any) -> Subquery:
    """``scores_from`` of the patient's current episode (their latest application), which
    has no upper bound. ``patient`` may be an ``OuterRef``."""
    latest = with_score_window(Application.objects.filter(patient=patient)).order_by("-pk")
    return Subquery(latest.values("scores_from")[:1], output_field=DateTimeField())


def in_score_window(scores_from: Any) -> Q:
    """``MeasureResponse`` rows of a current episode (it has no end) starting ``scores_from``:
    a datetime, None (every score) or an expression (``OuterRef``), so SQL subqueries use
    the same rule."""
    if not hasattr(scores_from, "resolve_expression"):
        scores_from = Value(scores_from, output_field=DateTimeField())
    return Q(taken_at__gte=Coalesce(scores_from, Value(_EARLIEST), output_field=DateTimeField()))


def taken_in_window(
    taken_at: dt.datetime, scores_from: dt.datetime | None, scores_until: dt.datetime | None
) -> bool:
    """Whether a score already loaded falls in a (past) episode's window."""
    return (scores_from is None or taken_at >= scores_from) and (
        scores_until is None or taken_at < scores_until
    )


@dataclass(frozen=True)
class Episode:
    """The patient's episode of care as far as progress needs it. ``admitted_on`` comes from
    enrollment's admitted application (start date, else decision date); without one it falls
    back to the first intake measure, so patients who were added before enrollment existed
    (and the demo) still get a schedule. ``scores`` selects the current episode's scores
    (``with_score_window``): all of them for a first application or without enrollment."""

    admitted_on: dt.date | None
    discharged_on: dt.date | None = None
    application_id: int | None = None
    source: str = ""
    scores_from: dt.datetime | None = None

    @property
    def scores(self) -> Q:
        return in_score_window(self.scores_from)


def episode_for(*, patient: User) -> Episode:
    app: Any = (
        Application.objects.filter(patient=patient, status__in=EPISODE_STATUSES)
        .annotate(scores_from=current_scores_from(patient.pk))
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
            return Episode(admitted, discharged, app.pk, "enrollment", app.scores_from)
    first = (
        MeasureResponse.objects.filter(patient=patient, context=MeasureContext.INTAKE)
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
        .first()
    )
    if first is not None:
        return Episode(first.astimezone(tz).date(), None, None, "first_intake_measure")
    return Episode(None)
