"""Progress test helpers: admitted episodes, scores on given days, check-ins."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.enrollment.models import Application, Discharge, Status
from apps.measures.services import measure_submit
from apps.progress.models import DailyCheckIn
from apps.progress.selectors import local_today, patient_zone


def days_before(patient, days: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """The same wall-clock time ``days`` days back on the patient's calendar (not ``days`` × 24 h,
    which across a DST change lands on another local day near midnight)."""
    return (now or timezone.now()).astimezone(patient_zone(patient)) - dt.timedelta(days=days)


def admit(
    patient, program, *, days_ago: int, by=None, now: dt.datetime | None = None
) -> Application:
    """An admitted episode that started ``days_ago`` days ago (patient's local calendar)."""
    start = local_today(patient, now) - dt.timedelta(days=days_ago)
    return Application.objects.create(
        patient=patient,
        program=program,
        status=Status.ADMITTED,
        start_date=start,
        decided_by=by,
        decided_at=days_before(patient, days_ago, now=now),
    )


def discharge(
    application: Application,
    *,
    by,
    days_ago: int = 0,
    reason: str = "completed",
    now: dt.datetime | None = None,
) -> Discharge:
    """Discharged ``days_ago`` days ago on the patient's local calendar."""
    when = days_before(application.patient, days_ago, now=now)
    application.status = Status.DISCHARGED
    application.status_changed_at = when
    application.save(update_fields=["status", "status_changed_at"])
    return Discharge.objects.create(
        application=application, reason=reason, discharged_at=when, by=by
    )


def answers_for(code: str, total: int, *, item9: int = 0) -> dict[str, int]:
    """Answers adding up to ``total`` (PHQ-9 item 9 kept at ``item9``)."""
    count = 9 if code == "phq9" else 7
    keys = [f"q{n}" for n in range(1, count + (0 if code == "phq9" else 1))]
    answers = {f"q{n}": 0 for n in range(1, count + 1)}
    if code == "phq9":
        answers["q9"] = item9
        total -= item9
    left = total
    while left > 0:
        for key in keys:
            if left and answers[key] < 3:
                answers[key] += 1
                left -= 1
    return answers


def score(patient, code: str, total: int, *, days_ago: int, context: str = "repeat", **kw: Any):
    taken = dt.datetime.combine(
        local_today(patient) - dt.timedelta(days=days_ago),
        dt.time(9, 0),
        tzinfo=patient_zone(patient),
    )
    taken = min(taken, timezone.now() - dt.timedelta(minutes=5))
    return measure_submit(
        patient=patient,
        instrument=code,
        answers=answers_for(code, total, **kw),
        context=context,
        ref=f"test:{code}:{days_ago}",
        taken_at=taken,
    )


def checkin(patient, *, days_ago: int = 0, **fields: Any) -> DailyCheckIn:
    values: dict[str, Any] = {
        "mood": 6,
        "anxiety": 4,
        "sleep_hours": Decimal("7.0"),
        "sleep_quality": 3,
    }
    values.update(fields)
    return DailyCheckIn.objects.create(
        patient=patient,
        program=patient.patient_profile.program,
        day=local_today(patient) - dt.timedelta(days=days_ago),
        **values,
    )


def valid_post(**overrides: Any) -> dict[str, Any]:
    data = {"mood": "6", "anxiety": "3", "sleep_hours": "7.5", "sleep_quality": "4", "note": ""}
    data.update(overrides)
    return data
