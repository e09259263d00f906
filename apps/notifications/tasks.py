"""Celery tasks: thin wrappers that take ids, load fresh rows and call a service.

Beat (declared in ``NotificationsConfig.ready``): ``notifications.dispatch_due`` every 30 s,
``notifications.plan`` every 60 s. Delivery tasks are acks_late with time limits; the claim
token makes a redelivered message a no-op.
"""

from __future__ import annotations

import time

from celery import shared_task
from django.db import DatabaseError

from apps.notifications import dispatch

# Hard limit below the sending lease (conf.sending_lease_seconds, 300 s by default), so a
# row is only taken back once its task can no longer be running.
DELIVER_SOFT_LIMIT = 60
DELIVER_HARD_LIMIT = 90


@shared_task(
    name="notifications.dispatch_due",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def dispatch_due(*, batch: int = 200, budget_seconds: float = 40.0) -> int:
    """Claim and enqueue due rows in batches until none is left or the time budget (below
    the soft limit) runs out; the next beat tick takes the rest. One batch per tick capped
    throughput at 400 rows a minute whatever the number of workers (bench/RESULTS.md)."""
    deadline = time.monotonic() + budget_seconds
    total = 0
    while True:
        claimed = len(dispatch.outbox_claim_due(limit=batch))
        total += claimed
        if claimed < batch or time.monotonic() >= deadline:
            return total


@shared_task(
    name="notifications.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=DELIVER_SOFT_LIMIT,
    time_limit=DELIVER_HARD_LIMIT,
    # Database hiccups (SQLite busy, a PostgreSQL failover) retry the task itself with
    # exponential back-off; channel failures are retried through the outbox row.
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def deliver(outbox_id: int, claim_token: str) -> str:
    return dispatch.outbox_deliver(outbox_id=outbox_id, claim_token=claim_token)


@shared_task(
    name="notifications.plan",
    acks_late=True,
    soft_time_limit=100,
    time_limit=120,
    ignore_result=True,
)
def plan() -> int:
    from apps.notifications import planning

    return planning.plan_all()
