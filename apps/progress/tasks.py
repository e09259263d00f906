"""Periodic work: remind patients of repeated measures that have fallen due."""

from __future__ import annotations

from celery import shared_task

from apps.progress import services


@shared_task(name="progress.plan_measure_reminders", soft_time_limit=240, time_limit=300)
def plan_measure_reminders() -> int:
    """Idempotent: a due round gets one outbox row per channel however often this runs."""
    return services.measure_reminders_plan()
