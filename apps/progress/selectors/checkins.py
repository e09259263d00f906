"""Daily check-ins and the skills a patient can say they used."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from apps.accounts.models import User
from apps.homework.models import Assignment
from apps.progress.models import DailyCheckIn

BACKFILL_DAYS = 7


def checkin_for_day(*, patient: User, day: dt.date) -> DailyCheckIn | None:
    return DailyCheckIn.objects.filter(patient=patient, day=day).first()


def checkins_between(*, patient: User, start: dt.date, end: dt.date) -> list[DailyCheckIn]:
    return list(
        DailyCheckIn.objects.filter(patient=patient, day__gte=start, day__lte=end).order_by("day")
    )


@dataclass(frozen=True)
class SkillChoice:
    slug: str
    title: str


def skills_for(*, patient: User) -> list[SkillChoice]:
    """Skills the patient can say they used: modules of homework they have started or done."""
    rows = (
        Assignment.objects.filter(patient=patient)
        .exclude(status="assigned")
        .values_list("module__slug", "module__title")
        .order_by("module__title")
        .distinct()
    )
    return [SkillChoice(slug, title) for slug, title in rows]


def checkin_averages(checkins: list[DailyCheckIn]) -> dict[str, float | None]:
    def avg(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    return {
        "mood": avg([c.mood for c in checkins]),
        "anxiety": avg([c.anxiety for c in checkins]),
        "sleep_hours": avg([float(c.sleep_hours or Decimal(0)) for c in checkins]),
        "craving": avg([c.craving for c in checkins if c.craving is not None]),
        "count": float(len(checkins)),
    }


def checked_in_on(*, patient_id: int, day: dt.date) -> bool:
    """Whether the patient has checked in on ``day`` (their local date). For the
    notifications app's check-in nudge guard; reads only."""
    return DailyCheckIn.objects.filter(patient_id=patient_id, day=day).exists()
