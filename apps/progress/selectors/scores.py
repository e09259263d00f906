"""Repeated measures (what is due) and scores over time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from apps.accounts.models import User
from apps.measures.models import MeasureContext, MeasureResponse
from apps.measures.registry import Instrument, instrument_get
from apps.programs.models import Program
from apps.progress.models import MeasureSchedule
from apps.progress.selectors.episodes import (
    Episode,
    episode_for,
    local_today,
    patient_program,
    patient_zone,
)

CHART_INSTRUMENTS = ("phq9", "gad7")


SUD_INSTRUMENTS = ("auditc", "dast10")


@dataclass(frozen=True)
class ScheduleRule:
    interval_days: int
    instruments: tuple[str, ...]
    at_discharge: bool
    grace_days: int


def schedule_for(program: Program | None) -> ScheduleRule:
    row = MeasureSchedule.objects.filter(program=program).first() if program else None
    if row is not None:
        return ScheduleRule(
            row.interval_days, tuple(row.instruments), row.at_discharge, row.grace_days
        )
    codes = CHART_INSTRUMENTS + (SUD_INSTRUMENTS if program and program.is_substance_use else ())
    return ScheduleRule(14, codes, True, 3)


@dataclass(frozen=True)
class DueMeasure:
    instrument: Instrument
    due_on: dt.date
    kind: str  # "repeat" or "discharge"
    ref: str

    @property
    def context(self) -> str:
        return MeasureContext.DISCHARGE if self.kind == "discharge" else MeasureContext.REPEAT

    @property
    def code(self) -> str:
        return self.instrument.code


# A discharge measure is still offered this long after discharge, then it lapses.
DISCHARGE_WINDOW_DAYS = 30


def measures_due(*, patient: User, now: dt.datetime | None = None) -> list[DueMeasure]:
    """Instruments the patient should complete now (at most one due date per instrument).

    Every ``interval_days`` from admission a round falls due; an instrument done from
    ``grace_days`` before the due date on counts. After discharge the round is the discharge
    one, with the same ``ref`` enrollment uses when it records discharge measures in session,
    so the two never double up."""
    program = patient_program(patient)
    if program is None:
        return []
    rule = schedule_for(program)
    episode = episode_for(patient=patient)
    today = local_today(patient, now)
    if episode.admitted_on is None:
        return []
    tz = patient_zone(patient)
    if episode.discharged_on is not None:
        if not rule.at_discharge or (today - episode.discharged_on).days > DISCHARGE_WINDOW_DAYS:
            return []
        due_on, kind = episode.discharged_on, "discharge"
        ref = f"discharge:{episode.application_id}"
    else:
        rounds = (today - episode.admitted_on).days // rule.interval_days
        if rounds < 1:
            return []
        due_on = episode.admitted_on + dt.timedelta(days=rounds * rule.interval_days)
        kind, ref = "repeat", f"progress:{due_on.isoformat()}"
    since = dt.datetime.combine(due_on - dt.timedelta(days=rule.grace_days), dt.time.min, tzinfo=tz)
    done = set(
        MeasureResponse.objects.filter(
            patient=patient, instrument__in=rule.instruments, taken_at__gte=since
        ).values_list("instrument", flat=True)
    )
    out = []
    for code in rule.instruments:
        definition = instrument_get(code)
        if definition is None or code in done:
            continue
        if definition.substance_use_only and not program.is_substance_use:
            continue
        out.append(DueMeasure(definition, due_on, kind, ref))
    return out


def measure_due_get(*, patient: User, code: str) -> DueMeasure | None:
    return next((d for d in measures_due(patient=patient) if d.code == code), None)


@dataclass(frozen=True)
class ScorePoint:
    taken_at: dt.datetime
    total: int
    band: str
    band_label: str
    context: str


def measure_series(*, patient: User, code: str) -> list[ScorePoint]:
    return [
        ScorePoint(r.taken_at, r.total, r.band, r.band_label, r.context)
        for r in MeasureResponse.objects.filter(
            patient=patient, instrument=code, total__isnull=False
        ).order_by("taken_at", "id")
        if r.total is not None
    ]


def measure_series_many(
    *, patient: User, codes: tuple[str, ...], episode: Episode | None = None
) -> dict[str, list[ScorePoint]]:
    """Each instrument's scores, oldest first, in one query; only ``episode``'s if given."""
    out: dict[str, list[ScorePoint]] = {code: [] for code in codes}
    responses = MeasureResponse.objects.filter(
        patient=patient, instrument__in=codes, total__isnull=False
    )
    if episode is not None:
        responses = responses.filter(episode.scores)
    for r in responses.order_by("taken_at", "id"):
        if r.total is not None:
            out[r.instrument].append(
                ScorePoint(r.taken_at, r.total, r.band, r.band_label, r.context)
            )
    return out


def responses_with_items(*, patient: User, limit: int = 50) -> list[dict[str, Any]]:
    """Recent responses with each item's text and the answer given, for clinicians."""
    rows = []
    for r in MeasureResponse.objects.filter(patient=patient).select_related("entered_by")[:limit]:
        definition = r.definition
        items = []
        if definition is not None:
            for number, item in enumerate(definition.items, 1):
                if item.key not in r.answers:
                    continue
                value = r.answers[item.key]
                label = next((c.label for c in item.choices if c.value == value), value)
                items.append({"number": number, "text": item.text, "answer": label, "value": value})
        rows.append({"response": r, "items": items})
    return rows
