"""Hours attended and homework, read from the apps that own them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from apps.accounts.models import User
from apps.homework.models import OPEN_STATUSES, Assignment
from apps.programs.models import Program
from apps.progress.selectors.episodes import local_today
from apps.scheduling.selectors import week_start_for, weekly_hours


def weeks_of_hours(*, patient: User, program: Program, weeks: int = 8) -> list[Any]:
    """Weekly hours (scheduling's own computation) for the last ``weeks`` program weeks, oldest
    first; four queries a week, so keep ``weeks`` small."""
    this_week = week_start_for(timezone.now().astimezone(program.time_zone).date())
    out = []
    for back in range(weeks - 1, -1, -1):
        start = this_week - dt.timedelta(days=7 * back)
        row = weekly_hours(patients=[patient], program=program, week_start=start)[0]
        out.append((start, row))
    return out


def homework_summary(*, patient: User) -> dict[str, Any]:
    today = local_today(patient)
    rows = list(
        Assignment.objects.filter(patient=patient)
        .select_related("module")
        .only("status", "due_date", "submitted_at", "module__title", "created_at")
        .order_by("-created_at")
    )
    done = [a for a in rows if a.status in ("submitted", "reviewed")]
    overdue = [a for a in rows if a.status in OPEN_STATUSES and a.due_date and a.due_date < today]
    return {"assignments": rows, "done": done, "overdue": overdue, "total": len(rows)}
