"""Demo history so the progress charts mean something at once, for patient1..patient12.

- Repeated PHQ-9/GAD-7 every 14 days from admission, continuing from the patient's intake
  scores, with varied trajectories: most improve, patient6 reaches remission, patient4
  worsens, patient5 and patient9 barely move. Odd-numbered patients have the current round
  still to do, so their dashboard shows it as a task.
- Daily check-ins from admission to yesterday (six weeks when there is no enrollment
  episode), with a few missed days, mood and anxiety following the scores.

The admission date and intake scores come from the enrollment demo when it has run (it
admits these patients 3-5 weeks ago); without it the history starts six weeks ago with an
intake score written here. Idempotent: measures carry a fixed ``ref`` per round
(``measure_submit`` returns the stored row on a repeat) and check-ins are only seeded for
patients who have none yet."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.measures.models import MeasureContext, MeasureResponse
from apps.measures.services import measure_submit
from apps.progress.models import DailyCheckIn
from apps.progress.selectors import episode_for, local_today, patient_program, patient_zone

HISTORY_DAYS = 42
INTERVAL = 14
# Intake scores used only when the enrollment demo has not written any.
FALLBACK_INTAKE = {
    1: 16,
    2: 18,
    3: 14,
    4: 12,
    5: 13,
    6: 20,
    7: 17,
    8: 11,
    9: 15,
    10: 22,
    11: 10,
    12: 13,
}
# Score at each fortnightly round as a share of the intake score.
FACTORS = {
    1: (0.8, 0.65, 0.55),
    2: (0.7, 0.5, 0.4),
    3: (0.8, 0.6, 0.45),
    5: (0.95, 0.9, 0.9),
    6: (0.6, 0.4, 0.2),  # remission
    7: (0.85, 0.7, 0.6),
    8: (0.7, 0.5, 0.45),
    9: (1.05, 1.0, 0.95),
    10: (0.65, 0.45, 0.4),
    11: (0.8, 0.6, 0.5),
    12: (0.75, 0.55, 0.45),
}
WORSENING = 4  # +3 PHQ-9 / +2 GAD-7 points a round


def _answers(total: int, code: str) -> dict[str, int]:
    """Spread ``total`` over the items; PHQ-9 item 9 stays 0 so the demo raises no flag."""
    count = 9 if code == "phq9" else 7
    scored = [f"q{n}" for n in range(1, count if code == "phq9" else count + 1)]
    answers = {f"q{n}": 0 for n in range(1, count + 1)}
    left = min(total, 3 * len(scored))
    while left > 0:
        for key in scored:
            if left and answers[key] < 3:
                answers[key] += 1
                left -= 1
    return answers


def _planned(number: int, code: str, base: int, k: int) -> int:
    if number == WORSENING:
        value = base + (3 if code == "phq9" else 2) * k
    else:
        factors = FACTORS[number]
        value = round(base * factors[min(k, len(factors)) - 1])
    return max(0, min(value, 24 if code == "phq9" else 21))


def _at(day: dt.date, tz: dt.tzinfo, now: dt.datetime) -> dt.datetime:
    return min(dt.datetime.combine(day, dt.time(10, 0), tzinfo=tz), now - dt.timedelta(hours=1))


def _done_near(patient: User, code: str, due_on: dt.date, tz: dt.tzinfo, k: int) -> bool:
    """A score of ``code`` (other than ours for this round) within 3 days of ``due_on``."""
    start = dt.datetime.combine(due_on - dt.timedelta(days=3), dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(due_on + dt.timedelta(days=4), dt.time.min, tzinfo=tz)
    return (
        MeasureResponse.objects.filter(
            patient=patient, instrument=code, taken_at__gte=start, taken_at__lt=end
        )
        .exclude(ref=f"demo:progress:{k}")
        .exists()
    )


def _first_total(patient: User, code: str) -> int | None:
    return (
        MeasureResponse.objects.filter(patient=patient, instrument=code, total__isnull=False)
        .order_by("taken_at", "id")
        .values_list("total", flat=True)
        .first()
    )


def seed(stdout: TextIO) -> None:
    now = timezone.now()
    seeded = 0
    for number in range(1, 13):
        patient = User.objects.filter(email=f"patient{number}@demo.test").first()
        if patient is None or patient_program(patient) is None:
            continue
        tz = patient_zone(patient)
        today = local_today(patient, now)
        episode = episode_for(patient=patient)
        if episode.source == "enrollment" and episode.admitted_on and episode.admitted_on < today:
            anchor = episode.admitted_on
        else:
            anchor = today - dt.timedelta(days=HISTORY_DAYS)

        for code in ("phq9", "gad7"):
            if _first_total(patient, code) is None:
                base = (
                    FALLBACK_INTAKE[number]
                    if code == "phq9"
                    else round(FALLBACK_INTAKE[number] * 0.8)
                )
                measure_submit(
                    patient=patient,
                    instrument=code,
                    answers=_answers(base, code),
                    context=MeasureContext.INTAKE,
                    ref="demo:progress:0",
                    taken_at=_at(anchor, tz, now),
                )
        bases = {code: _first_total(patient, code) or 0 for code in ("phq9", "gad7")}
        rounds = (today - anchor).days // INTERVAL
        for k in range(1, rounds + 1):
            if k == rounds and number % 2 == 1:
                continue  # this round is still to do: a dashboard task
            due_on = anchor + dt.timedelta(days=INTERVAL * k)
            for code in ("phq9", "gad7"):
                if _done_near(patient, code, due_on, tz, k):
                    continue  # another demo already gave this round's score
                measure_submit(
                    patient=patient,
                    instrument=code,
                    answers=_answers(_planned(number, code, bases[code], k), code),
                    context=MeasureContext.REPEAT,
                    ref=f"demo:progress:{k}",
                    taken_at=_at(anchor + dt.timedelta(days=INTERVAL * k), tz, now),
                )
        if DailyCheckIn.objects.filter(patient=patient).exists():
            continue
        days = (today - anchor).days
        end_phq = _planned(number, "phq9", bases["phq9"], max(1, days // INTERVAL))
        end_gad = _planned(number, "gad7", bases["gad7"], max(1, days // INTERVAL))
        rng = random.Random(number)  # noqa: S311 - demo data, not security
        program = patient_program(patient)
        substance_use = bool(program and program.is_substance_use)
        rows = []
        for offset in range(days):
            if rng.random() < 0.12:
                continue  # a missed day: a gap in the chart
            share = offset / max(days, 1)
            p = bases["phq9"] + (end_phq - bases["phq9"]) * share
            g = bases["gad7"] + (end_gad - bases["gad7"]) * share
            rows.append(
                DailyCheckIn(
                    patient=patient,
                    program=program,
                    day=anchor + dt.timedelta(days=offset),
                    mood=max(2, min(10, round(10 - p / 2.7 + rng.uniform(-1.2, 1.2)))),
                    anxiety=max(0, min(10, round(g / 1.9 + rng.uniform(-1.2, 1.2)))),
                    sleep_hours=Decimal(
                        str(max(3.5, min(9.5, round((8.2 - p / 8 + rng.uniform(-1, 1)) * 2) / 2)))
                    ),
                    sleep_quality=max(1, min(5, round(4 - p / 9 + rng.uniform(-0.8, 0.8)))),
                    craving=(
                        max(0, min(10, round(p / 3 + rng.uniform(-1, 1))))
                        if substance_use
                        else None
                    ),
                    used_since_last=False if substance_use else None,
                )
            )
        DailyCheckIn.objects.bulk_create(rows, ignore_conflicts=True)
        seeded += 1
    stdout.write(f"  progress: check-in history for {seeded} patients, measures every 2 weeks\n")
