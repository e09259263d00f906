"""Program outcomes: aggregates over discharged episodes, overall and per quarter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.enrollment.models import Application, DischargeReason, Status
from apps.measures.models import MeasureContext, MeasureResponse
from apps.measures.scoring import Change, change_summary
from apps.programs.models import Program
from apps.progress.extensions import outcome_metrics
from apps.progress.selectors.access import outcome_programs_for
from apps.progress.selectors.episodes import taken_in_window, with_score_window
from apps.progress.selectors.scores import CHART_INSTRUMENTS
from apps.scheduling.models import ATTENDED_STATUSES, Attendance


@dataclass
class ProgramOutcome:
    program: Program
    admissions: int
    discharges: int
    completions: int
    phq9_change: float | None
    phq9_pairs: int
    gad7_change: float | None
    gad7_pairs: int
    attendance_rate: float | None
    sessions_recorded: int
    # Measurement-based care (Joint Commission CTS.03.01.09): share of discharged patients
    # with a response (a drop of half or more) and in remission (under 5) at discharge.
    phq9_response_rate: float | None = None
    phq9_remission_rate: float | None = None
    gad7_response_rate: float | None = None
    gad7_remission_rate: float | None = None
    median_stay_days: float | None = None
    period: str = ""
    # What apps above progress add (documentation timeliness...): label → value.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def completion_rate(self) -> float | None:
        return round(100 * self.completions / self.discharges, 1) if self.discharges else None


def program_outcomes(
    *, user: User, program_id: int | None = None, since: dt.date | None = None
) -> list[ProgramOutcome]:
    """Admissions, completions, PHQ-9/GAD-7 change, response and remission from admission to
    discharge, median length of stay and the attendance rate, per program the viewer works
    in (admins: every program). Aggregates only.

    Change pairs, one per discharged episode: its first score (the intake) and the score taken
    at or after discharge (context ``discharge``), else its last score before discharge; a
    readmission is an episode of its own (``episodes.with_score_window``)."""
    programs = list(outcome_programs_for(user=user))
    if program_id:
        programs = [p for p in programs if p.pk == program_id]
    apps = Application.objects.filter(
        program__in=programs, status__in=[Status.ADMITTED, Status.DISCHARGED]
    )
    if since is not None:
        apps = apps.filter(
            Q(start_date__gte=since) | Q(start_date__isnull=True, decided_at__date__gte=since)
        )
    return _outcomes(programs, apps, since=since)


def quarter_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar quarter holding ``day``: [first day, first day of the next)."""
    first = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    nxt = dt.date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
    return first, nxt


def quarterly_outcomes(
    *, user: User, quarters: int = 4, today: dt.date | None = None
) -> list[ProgramOutcome]:
    """The same outcomes per program and calendar quarter, by discharge date (the last
    ``quarters`` quarters, newest first), for the aggregate the standard asks for."""
    programs = list(outcome_programs_for(user=user))
    start, end = quarter_of(today or timezone.localdate())
    out: list[ProgramOutcome] = []
    for _ in range(quarters):
        apps = Application.objects.filter(
            program__in=programs,
            status=Status.DISCHARGED,
            discharge__discharged_at__date__gte=start,
            discharge__discharged_at__date__lt=end,
        )
        rows = _outcomes(programs, apps, window=(start, end))
        label = f"{start.year} Q{(start.month - 1) // 3 + 1}"
        for row in rows:
            row.period = label
        out += rows
        end = start
        start = quarter_of(start - dt.timedelta(days=1))[0]
    return out


def _outcomes(
    programs: list[Program],
    apps: QuerySet[Application],
    *,
    since: dt.date | None = None,
    window: tuple[dt.date, dt.date] | None = None,
) -> list[ProgramOutcome]:
    ids = [p.pk for p in programs]
    app_rows = list(
        with_score_window(apps).values_list(
            "program_id",
            "patient_id",
            "status",
            "discharge__reason",
            "discharge__discharged_at",
            "start_date",
            "scores_from",
            "scores_until",
        )
    )
    scores: dict[tuple[int, str], list[tuple[dt.datetime, int, str]]] = {}
    for patient_id, code, taken_at, total, context in (
        MeasureResponse.objects.filter(
            patient_id__in={r[1] for r in app_rows if r[2] == Status.DISCHARGED},
            instrument__in=CHART_INSTRUMENTS,
            total__isnull=False,
        )
        .order_by("taken_at", "id")
        .values_list("patient_id", "instrument", "taken_at", "total", "context")
    ):
        scores.setdefault((patient_id, code), []).append((taken_at, int(total or 0), context))
    attended = Attendance.objects.filter(session__group__program_id__in=ids)
    if window is not None:
        attended = attended.filter(
            session__starts_at__date__gte=window[0], session__starts_at__date__lt=window[1]
        )
    attendance = {
        row["session__group__program_id"]: row
        for row in attended.values("session__group__program_id").annotate(
            total=Count("pk"),
            attended=Count("pk", filter=Q(status__in=ATTENDED_STATUSES)),
        )
    }
    extra = outcome_metrics(
        ids, start=window[0] if window else since, end=window[1] if window else None
    )
    out = []
    for program in programs:
        rows = [r for r in app_rows if r[0] == program.pk]
        ends: dict[str, list[Change]] = {code: [] for code in CHART_INSTRUMENTS}
        stays: list[int] = []
        for _pid, pat, st, _reason, at, start_date, scores_from, scores_until in rows:
            if st != Status.DISCHARGED:
                continue
            if at is not None and start_date is not None:
                stays.append((at.date() - start_date).days)
            for code in CHART_INSTRUMENTS:
                series = [
                    s
                    for s in scores.get((pat, code), [])
                    if taken_in_window(s[0], scores_from, scores_until)
                ]
                change = _discharge_change(code, series, at)
                if change is not None:
                    ends[code].append(change)
        att = attendance.get(program.pk)
        out.append(
            ProgramOutcome(
                program=program,
                admissions=len(rows),
                discharges=sum(1 for r in rows if r[2] == Status.DISCHARGED),
                completions=sum(1 for r in rows if r[3] == DischargeReason.COMPLETED),
                phq9_change=_mean([c.delta for c in ends["phq9"]]),
                phq9_pairs=len(ends["phq9"]),
                gad7_change=_mean([c.delta for c in ends["gad7"]]),
                gad7_pairs=len(ends["gad7"]),
                attendance_rate=(
                    round(100 * att["attended"] / att["total"], 1) if att and att["total"] else None
                ),
                sessions_recorded=att["total"] if att else 0,
                phq9_response_rate=_share([c.response for c in ends["phq9"]]),
                phq9_remission_rate=_share([c.remission for c in ends["phq9"]]),
                gad7_response_rate=_share([c.response for c in ends["gad7"]]),
                gad7_remission_rate=_share([c.remission for c in ends["gad7"]]),
                median_stay_days=_median(stays),
                extra={label: values.get(program.pk) for label, values in extra},
            )
        )
    return out


def _discharge_change(
    code: str, series: list[tuple[dt.datetime, int, str]], discharged_at: dt.datetime | None
) -> Change | None:
    if len(series) < 2:
        return None
    at_discharge = [s for s in series if s[2] == MeasureContext.DISCHARGE]
    before = [s for s in series if discharged_at is None or s[0] <= discharged_at]
    end = at_discharge[-1] if at_discharge else (before[-1] if before else None)
    if end is None or end is series[0]:
        return None
    return change_summary(code, series[0][1], end[1])


def _share(flags: list[bool]) -> float | None:
    return round(100 * sum(flags) / len(flags), 1) if flags else None


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None
