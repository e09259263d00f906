"""Dashboard panels (registered in apps.py through apps.core.nav)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from apps.core.fragments import user_scope
from apps.core.nav import PanelCache
from apps.scheduling import selectors


def _week_scopes(request: HttpRequest) -> list[str]:
    # Seats, appointments and attendance point at the patient; sessions, groups and the
    # program's hour floor are shared rows.
    return [user_scope(request.user), "scheduling.session", "scheduling.group", "programs.program"]


PATIENT_WEEK_CACHE = PanelCache(scopes=_week_scopes)


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
    upcoming = selectors.upcoming_for_patient(patient=user, now=now, limit=3)
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


def patient_offers(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    """A seat offered to me: accept or decline (never cached: offers expire)."""
    user: Any = request.user
    offers = selectors.seat_offers_for_patient(patient=user, now=timezone.now())
    if not offers:
        return None
    return "scheduling/partials/panel_offers_patient.html", {"offers": offers}


def _staff_offers(request: HttpRequest, next_page: str) -> tuple[str, dict[str, Any]] | None:
    offers = list(selectors.seat_offers_pending_for_staff(user=request.user)[:10])  # type: ignore[arg-type]
    if not offers:
        return None
    return "scheduling/partials/panel_offers_staff.html", {"offers": offers, "next": next_page}


def staff_offers_home(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    """Seat offers waiting for staff, on the clinician's dashboard."""
    return _staff_offers(request, "home")


def staff_offers_today(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    """The same list on the Today page."""
    return _staff_offers(request, "today")
