"""Celery tasks: thin wrappers that take ids, load fresh rows and call a service.

Beat (declared in ``NotificationsConfig.ready``): ``notifications.dispatch_due`` every
``DISPATCH_EVERY_SECONDS``, ``notifications.plan`` every 60 s. The dispatcher does not send:
it takes back rows whose lease ran out and, when rows are due, starts ``deliver_due`` tasks
that claim and send batches in the worker itself (``dispatch.outbox_drain``).
"""

from __future__ import annotations

import math

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.notifications import dispatch, planning

# A row due just after a tick waits at most this long for the next one, when no delivery
# task is already draining (during a burst they keep claiming what falls due).
DISPATCH_EVERY_SECONDS = 5.0
# Rows claimed at once by a delivery task (how many such tasks a tick starts at most:
# settings.NOTIFICATIONS_DELIVERY_TASKS).
DRAIN_BATCH = 25
# A delivery task stops claiming after this long (well under its soft time limit) so beat's
# other tasks get a worker; the next tick starts another if rows are still due.
DRAIN_BUDGET_SECONDS = 20.0
DELIVER_SOFT_LIMIT = 60
DELIVER_HARD_LIMIT = 90


@shared_task(
    name="notifications.dispatch_due",
    acks_late=True,
    soft_time_limit=20,
    time_limit=30,
    ignore_result=True,
)
def dispatch_due(*, batch: int = DRAIN_BATCH, tasks: int | None = None) -> int:
    """Take back rows whose lease ran out (their worker died), then start up to ``tasks``
    delivery tasks, one per ``batch`` rows due. Returns the number of tasks started.

    One claim of 200 rows per 30 s tick capped throughput at 400 rows a minute; claiming
    everything at once and queueing a task per row kept thousands of rows "sending" in the
    queue, where a killed worker's share waited for a 300 s lease (bench/RESULTS.md)."""
    tasks = tasks or settings.NOTIFICATIONS_DELIVERY_TASKS
    now = timezone.now()
    dispatch.outbox_recover_stale(now=now)
    due = dispatch.outbox_due_count(now=now, limit=batch * tasks)
    started = min(tasks, math.ceil(due / batch))
    for _ in range(started):
        # Expires with the next tick: when every worker is busy, tasks that did not start do
        # not pile up behind the ones already draining.
        deliver_due.apply_async(kwargs={"batch": batch}, expires=DISPATCH_EVERY_SECONDS * 2)
    return started


@shared_task(
    name="notifications.deliver_due",
    acks_late=True,
    soft_time_limit=DELIVER_SOFT_LIMIT,
    time_limit=DELIVER_HARD_LIMIT,
    ignore_result=True,
)
def deliver_due(*, batch: int = DRAIN_BATCH, budget_seconds: float = DRAIN_BUDGET_SECONDS) -> int:
    return dispatch.outbox_drain(batch=batch, budget_seconds=budget_seconds)


@shared_task(
    name="notifications.plan",
    acks_late=True,
    soft_time_limit=100,
    time_limit=120,
    ignore_result=True,
)
def plan() -> int:
    return planning.plan_all()
