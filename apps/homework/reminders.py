"""Homework's part of the notifications planner: overdue notices, and the guard that stops a
due or overdue notice for homework no longer open. ("Due tomorrow" is queued by services.)"""

from __future__ import annotations

import datetime as dt
import re

from django.urls import reverse

from apps.homework.models import OPEN_STATUSES, Assignment
from apps.notifications import guards
from apps.notifications.models import Kind, Outbox
from apps.notifications.planning import register_planner
from apps.notifications.rendering import user_zone
from apps.notifications.services import notification_schedule

OVERDUE_NOTICE_AT = dt.time(9, 0)
_ASSIGNMENT_KEY = re.compile(r"^homework\.assignment:(\d+)")


def plan_homework_overdue(*, now: dt.datetime) -> int:
    created = 0
    recent = (now - dt.timedelta(days=14)).date()
    for assignment in Assignment.objects.filter(
        status__in=OPEN_STATUSES, due_date__isnull=False, due_date__gte=recent
    ).select_related("patient"):
        assert assignment.due_date is not None
        zone = user_zone(assignment.patient)
        local_today = now.astimezone(zone).date()
        if assignment.due_date >= local_today:
            continue
        at = dt.datetime.combine(
            assignment.due_date + dt.timedelta(days=1), OVERDUE_NOTICE_AT, tzinfo=zone
        )
        if at > now:
            continue
        key = f"homework.assignment:{assignment.pk}/overdue"
        if Outbox.objects.filter(recipient=assignment.patient, event_key=key).exists():
            continue
        created += len(
            notification_schedule(
                recipient=assignment.patient,
                kind=Kind.HOMEWORK_OVERDUE,
                event_key=key,
                context={
                    "assignment_id": assignment.pk,
                    "due_on": assignment.due_date,
                    "link": reverse("homework:work", args=[assignment.pk]),
                },
                due_at=now,
            )
        )
    return created


def homework_guard(row: Outbox) -> str | None:
    if row.kind not in (Kind.HOMEWORK_DUE, Kind.HOMEWORK_OVERDUE):
        return None
    match = _ASSIGNMENT_KEY.match(row.event_key)
    if match is None:
        return None
    if not Assignment.objects.filter(pk=int(match.group(1)), status__in=OPEN_STATUSES).exists():
        return "homework no longer open"
    return None


def register() -> None:
    register_planner("homework_overdue", plan_homework_overdue)
    guards.register(name="homework", prefix="homework.assignment:", guard=homework_guard)
