"""Measures' part of the notifications planner: a safety net that alerts for any open flag
whose alert was never written, and the guard that stops alerts once a flag is acknowledged."""

from __future__ import annotations

import datetime as dt
import re

from apps.measures.models import SafetyFlag
from apps.measures.services import flag_event_key, safety_flag_alert
from apps.notifications import guards
from apps.notifications.models import Kind, Outbox
from apps.notifications.planning import register_planner

_FLAG_KEY = re.compile(r"^measures\.safetyflag:(\d+)")


def plan_safety_alerts(*, now: dt.datetime) -> int:
    created = 0
    flags = SafetyFlag.objects.filter(
        acknowledged_at__isnull=True, opened_at__gte=now - dt.timedelta(days=2)
    ).select_related("patient", "patient__patient_profile")
    for flag in flags:
        if Outbox.objects.filter(event_key=flag_event_key(flag), kind=Kind.SAFETY_ALERT).exists():
            continue
        created += safety_flag_alert(flag, raised_at=flag.opened_at)
    return created


def safety_guard(row: Outbox) -> str | None:
    if row.kind not in (Kind.SAFETY_ALERT, Kind.SAFETY_ESCALATION):
        return None
    match = _FLAG_KEY.match(row.event_key)
    if match is None:
        return None
    flag = SafetyFlag.objects.filter(pk=int(match.group(1))).only("acknowledged_at").first()
    if flag is not None and flag.acknowledged_at is not None:
        return "acknowledged"
    return None


def register() -> None:
    register_planner("safety_alerts", plan_safety_alerts)
    guards.register(name="safety", prefix="measures.safetyflag:", guard=safety_guard)
