"""Progress's part of the notifications planner: the daily check-in nudge at the patient's
chosen local time, and the guard that drops it once they have checked in that day."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django.urls import reverse

from apps.accounts.models import Role, User
from apps.accounts.selectors import patients_in_treatment
from apps.notifications import guards
from apps.notifications.models import Kind, NotificationSettings, Outbox
from apps.notifications.planning import LATE_GRACE, register_planner
from apps.notifications.rendering import user_zone
from apps.notifications.services import notification_schedule
from apps.progress.selectors import checked_in_on

_CHECKIN_KEY = re.compile(r"^measures\.checkin:(\d+)@(\d{4}-\d{2}-\d{2})$")


def checkin_due_at(*, checkin_time: dt.time, zone: zoneinfo.ZoneInfo, day: dt.date) -> dt.datetime:
    """The nudge's instant on local ``day``. A wall-clock time skipped by a spring-forward
    change lands the gap's length later (02:30 → 03:30); a repeated one takes the first."""
    # zoneinfo resolves a non-existent time with the offset from before the change (fold=0),
    # which is exactly "moved forward by the gap"; an ambiguous one takes the earlier instant.
    return dt.datetime.combine(day, checkin_time, tzinfo=zone).astimezone(dt.UTC)


def plan_checkin_nudges(*, now: dt.datetime) -> int:
    created = 0
    # Only patients in treatment are nudged: not applicants, nor anyone discharged.
    treated = patients_in_treatment(User.objects.filter(role=Role.PATIENT, is_active=True))
    rows = NotificationSettings.objects.filter(
        checkin_time__isnull=False, user__in=treated
    ).select_related("user")
    for row in rows:
        assert row.checkin_time is not None
        zone = user_zone(row.user)
        # The window can straddle the patient's midnight (23:55 with a 00:05 check-in is
        # tomorrow's nudge; 00:01 with 23:59 is yesterday's, still within the grace).
        today = now.astimezone(zone).date()
        for local_day in (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)):
            due = checkin_due_at(checkin_time=row.checkin_time, zone=zone, day=local_day)
            if now - LATE_GRACE <= due <= now + dt.timedelta(hours=1):
                break
        else:
            continue
        key = f"measures.checkin:{row.user_id}@{local_day.isoformat()}"
        if Outbox.objects.filter(recipient_id=row.user_id, event_key=key).exists():
            continue
        created += len(
            notification_schedule(
                recipient=row.user,
                kind=Kind.CHECKIN_NUDGE,
                event_key=key,
                context={"link": reverse("progress:checkin")},
                due_at=max(due, now),
            )
        )
    return created


def checkin_guard(row: Outbox) -> str | None:
    match = _CHECKIN_KEY.match(row.event_key)
    if match is None or row.kind != Kind.CHECKIN_NUDGE:
        return None
    day = dt.date.fromisoformat(match.group(2))
    if not patients_in_treatment(User.objects.filter(pk=row.recipient_id)).exists():
        return "not in treatment"
    return (
        "already checked in today" if checked_in_on(patient_id=row.recipient_id, day=day) else None
    )


def register() -> None:
    register_planner("checkin_nudges", plan_checkin_nudges)
    guards.register(name="checkin", prefix="measures.checkin:", guard=checkin_guard)
