"""Periodic work: keep every running group's sessions generated to the rolling horizon, and
close seat offers past their time (the next on the waitlist is offered the seat)."""

from __future__ import annotations

from celery import shared_task

from apps.scheduling import services


@shared_task(name="scheduling.extend_sessions", soft_time_limit=100, time_limit=120)
def extend_sessions() -> int:
    """Idempotent: running it twice (or on two workers at once) creates nothing new."""
    return services.sessions_extend_all()


@shared_task(name="scheduling.expire_seat_offers", soft_time_limit=100, time_limit=120)
def expire_seat_offers() -> int:
    """Idempotent: an offer already closed (answered, or by another worker) is skipped."""
    return services.seat_offers_expire()
