"""Periodic work: keep every running group's sessions generated to the rolling horizon."""

from __future__ import annotations

from celery import shared_task

from apps.scheduling import services


@shared_task(name="scheduling.extend_sessions", soft_time_limit=100, time_limit=120)
def extend_sessions() -> int:
    """Idempotent: running it twice (or on two workers at once) creates nothing new."""
    return services.sessions_extend_all()
