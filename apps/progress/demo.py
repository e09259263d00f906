"""Demo history so the progress charts mean something at once: six weeks of daily check-ins
(with a few missed days) and PHQ-9/GAD-7 every two weeks for patient1..patient12@demo.test,
with varied trajectories (most improving, patient4 worsening). Odd-numbered patients have
today's round still to do, so their dashboard shows it as a task.

Idempotent: measures carry a ``ref`` (measure_submit returns the stored row on a repeat) and
check-ins are only seeded for patients who have none yet."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.measures.models import MeasureContext
from apps.measures.services import measure_submit
from apps.progress.models import DailyCheckIn
from apps.progress.selectors import local_today, patient_program, patient_zone

HISTORY_DAYS = 42
# PHQ-9 at admission, 2, 4 and (even-numbered patients only) 6 weeks.
PHQ9_TRAJECTORIES = {
    1: [16, 13, 11, 9],
    2: [18, 12, 8, 6],
    3: [14, 10, 6, 5],
    4: [12, 14, 17, 19],  # worsening
    5: [9, 8, 8, 7],
    6: [20, 15, 9, 4],  # remission
    7: [17, 15, 12, 10],
    8: [11, 9, 6, 5],
    9: [15, 16, 14, 13],
    10: [22, 17, 13, 10],
    11: [8, 6, 4, 4],
    12: [13, 11, 12, 9],
}


def _answers(total: int, items: int) -> dict[str, int]:
    """Spread ``total`` over items q1..q(items-1) (0-3 each); the last item stays 0 so the
    demo raises no PHQ-9 item-9 flag."""
    answers = {f"q{n}": 0 for n in range(1, items + 1)}
    keys = [f"q{n}" for n in range(1, items)]
    left = min(total, 3 * len(keys))
    while left > 0:
        for key in keys:
            if left and answers[key] < 3:
                answers[key] += 1
                left -= 1
    return answers


def _interp(values: list[int], day: int) -> float:
    position = day / 14
    low = min(int(position), len(values) - 1)
    high = min(low + 1, len(values) - 1)
    fraction = position - low
    return values[low] + (values[high] - values[low]) * fraction


def seed(stdout: TextIO) -> None:
    now = timezone.now()
    seeded = 0
    for number, phq in PHQ9_TRAJECTORIES.items():
        patient = User.objects.filter(email=f"patient{number}@demo.test").first()
        if patient is None or patient_program(patient) is None:
            continue
        tz = patient_zone(patient)
        today = local_today(patient, now)
        start = today - dt.timedelta(days=HISTORY_DAYS)
        gad = [min(18, round(v * 0.8)) for v in phq]
        rounds = 4 if number % 2 == 0 else 3
        for index in range(rounds):
            day = start + dt.timedelta(days=14 * index)
            taken = min(
                dt.datetime.combine(day, dt.time(10, 0), tzinfo=tz), now - dt.timedelta(hours=1)
            )
            context = MeasureContext.INTAKE if index == 0 else MeasureContext.REPEAT
            for code, values, items in (("phq9", phq, 9), ("gad7", gad, 7)):
                measure_submit(
                    patient=patient,
                    instrument=code,
                    answers=_answers(values[index], items if code == "phq9" else items + 1),
                    context=context,
                    ref=f"demo:progress:{index}",
                    taken_at=taken,
                )
        if DailyCheckIn.objects.filter(patient=patient).exists():
            continue
        rng = random.Random(number)  # noqa: S311 - demo data, not security
        program = patient_program(patient)
        substance_use = bool(program and program.is_substance_use)
        rows = []
        for offset in range(HISTORY_DAYS):
            day = start + dt.timedelta(days=offset)
            if rng.random() < 0.12:
                continue  # a missed day: a gap in the chart
            p = _interp(phq, offset)
            g = _interp(gad, offset)
            mood = max(2, min(10, round(10 - p / 2.7 + rng.uniform(-1.2, 1.2))))
            anxiety = max(0, min(10, round(g / 1.9 + rng.uniform(-1.2, 1.2))))
            sleep = Decimal(
                str(max(3.5, min(9.5, round((8.2 - p / 8 + rng.uniform(-1, 1)) * 2) / 2)))
            )
            rows.append(
                DailyCheckIn(
                    patient=patient,
                    program=program,
                    day=day,
                    mood=mood,
                    anxiety=anxiety,
                    sleep_hours=sleep,
                    sleep_quality=max(1, min(5, round(4 - p / 9 + rng.uniform(-0.8, 0.8)))),
                    craving=max(0, min(10, round(p / 3 + rng.uniform(-1, 1))))
                    if substance_use
                    else None,
                    used_since_last=False if substance_use else None,
                )
            )
        DailyCheckIn.objects.bulk_create(rows, ignore_conflicts=True)
        seeded += 1
    stdout.write(f"  progress: check-in history for {seeded} patients, measures every 2 weeks\n")
