"""Demo measures: a week-2 repeat PHQ-9 and GAD-7 for patient1..patient12, so progress
charts and discharge comparisons have something to show. Intake measures come with the
enrollment demo. Idempotent (each response has a fixed ref)."""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.measures.models import MeasureContext, MeasureResponse
from apps.measures.services import measure_submit


def _spread(total: int, items: int, last_zero: bool) -> dict[str, int]:
    answers = {f"q{n}": 0 for n in range(1, items + 1)}
    left = total
    for n in range(1, items + (0 if last_zero else 1)):
        answers[f"q{n}"] = min(3, left)
        left -= answers[f"q{n}"]
    return answers


def seed(stdout: TextIO) -> None:
    when = timezone.now() - dt.timedelta(days=14)
    for number in range(1, 13):
        patient = User.objects.filter(email=f"patient{number}@demo.test").first()
        if patient is None:
            continue
        phq = 6 + (number * 5) % 12
        gad = 4 + (number * 3) % 10
        measure_submit(
            patient=patient,
            instrument="phq9",
            answers=_spread(phq, 9, last_zero=True),
            context=MeasureContext.REPEAT,
            ref="demo:week2",
            taken_at=when,
        )
        measure_submit(
            patient=patient,
            instrument="gad7",
            answers=_spread(gad, 7, last_zero=False),
            context=MeasureContext.REPEAT,
            ref="demo:week2",
            taken_at=when,
        )
    stdout.write(f"  measures: {MeasureResponse.objects.count()} responses\n")
