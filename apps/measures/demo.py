"""Demo measures. Intake PHQ-9/GAD-7 (and the flagged applicant's) come with the enrollment
demo, and the repeated rounds every 14 days from admission come with the progress demo, so
each patient's scores form one plausible trajectory. This only reports the count."""

from __future__ import annotations

from typing import TextIO

from apps.measures.models import MeasureResponse


def seed(stdout: TextIO) -> None:
    stdout.write(f"  measures: {MeasureResponse.objects.count()} responses so far\n")
