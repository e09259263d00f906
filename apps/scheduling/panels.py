"""Dashboard panels (registered in apps.py through apps.core.nav)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from apps.scheduling import selectors


def patient_week(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    """This week: hours against the floor and what's next."""
    user: Any = request.user
    program = getattr(getattr(user, "patient_profile", None), "program", None)
    if program is None:
        return None
    now = timezone.now()
    week_start = selectors.week_start_for(now.astimezone(program.time_zone).date())
    hours = selectors.weekly_hours(
        patients=[user], program=program, week_start=week_start, now=now
    )[0]
    upcoming = list(
        selectors.sessions_for_patient(patient=user, start=now - dt.timedelta(hours=4)).filter(
            status="scheduled", ends_at__gt=now
        )[:3]
    )
    for session in upcoming:
        session.join_open = session.join_is_open(now)  # type: ignore[attr-defined]
    return "scheduling/partials/panel_week.html", {"hours": hours, "upcoming": upcoming}


def clinician_today(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    """My groups today."""
    user: Any = request.user
    tz = timezone.get_current_timezone()
    now = timezone.now()
    start = dt.datetime.combine(now.astimezone(tz).date(), dt.time.min, tzinfo=tz)
    sessions = list(
        selectors.sessions_for_clinician(
            clinician=user, start=start, end=start + dt.timedelta(days=1)
        )
    )
    for session in sessions:
        session.join_open = session.join_is_open(now)  # type: ignore[attr-defined]
    return "scheduling/partials/panel_today.html", {"sessions": sessions, "now": now}
