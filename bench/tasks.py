"""The reminder baseline: a Celery task that only records when it ran (loaded into the bench
workers with ``-I bench.tasks``). 10,000 of them sent with an ETA at the due time show what
the same workers and broker do with no outbox, no database and no rendering."""

from __future__ import annotations

import os
import time

import redis
from celery import shared_task


@shared_task(name="bench.record", ignore_result=True, acks_late=True)
def record(ident: int, run: str) -> None:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    pipe = client.pipeline()
    pipe.hincrby(f"{run}:count", str(ident), 1)
    pipe.hsetnx(f"{run}:at", str(ident), time.time())
    pipe.execute()
