"""The periodic planner's frame: each app registers what it plans and what it re-checks.

Runs every minute (beat: ``notifications.plan``). Every row a planner writes has a dedupe
key, so running it twice — or on two workers at once — writes nothing new. The planners
live with the data they read and register from their AppConfig.ready():

- ``scheduling/reminders.py``: session and appointment reminders at each person's lead
  times, no-show alerts, the Thursday weekly-hours alert;
- ``homework/reminders.py``: overdue notices;
- ``progress/reminders.py``: the daily check-in nudge;
- ``measures/reminders.py``: the safety-alert safety net.

Reminder keys carry the start time, so a moved session gets fresh reminders and the old ones
are stopped at send time by the app's guard (``apps.notifications.guards``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from apps.notifications.models import NotificationSettings, Outbox

logger = logging.getLogger(__name__)

# A reminder whose time passed longer ago than this is not sent late; it is skipped.
LATE_GRACE = dt.timedelta(minutes=3)
DEFAULT_LEADS = (24 * 60, 60)
MAX_LEAD_MINUTES = 7 * 24 * 60
# Reminder rows are written once they fall due within this window (not weeks ahead), so a
# moved or cancelled session leaves few rows behind.
PLAN_AHEAD = dt.timedelta(hours=48)

START_KEY_FORMAT = "%Y%m%dT%H%MZ"

Planner = Callable[..., int]
PLANNERS: dict[str, Planner] = {}


def register_planner(name: str, planner: Planner) -> None:
    """``planner(now=...)`` runs every minute and returns how many rows it wrote."""
    PLANNERS[name] = planner


def start_stamp(starts_at: dt.datetime) -> str:
    return starts_at.astimezone(dt.UTC).strftime(START_KEY_FORMAT)


def parse_start_stamp(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, START_KEY_FORMAT).replace(tzinfo=dt.UTC)


def leads_for(settings_row: NotificationSettings | None) -> list[int]:
    """A person's reminder lead times in minutes, longest first."""
    raw = settings_row.reminder_leads_minutes if settings_row else list(DEFAULT_LEADS)
    leads = []
    for value in raw or []:
        if isinstance(value, int) and 0 < value <= MAX_LEAD_MINUTES:
            leads.append(value)
    return sorted(set(leads), reverse=True)


def settings_by_user(user_ids: set[int]) -> dict[int, NotificationSettings]:
    return {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=user_ids)}


def existing_keys(prefix: str, since: dt.datetime) -> set[tuple[int, str, str]]:
    """(recipient, event key, kind) of rows already written under ``prefix``."""
    return set(
        Outbox.objects.filter(event_key__startswith=prefix, created_at__gte=since).values_list(
            "recipient_id", "event_key", "kind"
        )
    )


def due_in_window(due: dt.datetime, now: dt.datetime) -> bool:
    return now - LATE_GRACE <= due <= now + PLAN_AHEAD


def plan_all(*, now: dt.datetime | None = None) -> int:
    """Run every planner, each in its own transaction, so one failing (another app's
    model changed under us) does not stop the others."""
    now = now or timezone.now()
    total = 0
    for name, planner in list(PLANNERS.items()):
        try:
            with transaction.atomic():
                total += planner(now=now)
        except Exception:
            logger.exception("notification planner %s failed", name)
    return total
