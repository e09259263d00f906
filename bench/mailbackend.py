"""E-mail backend for the reminder benchmark: sends nothing, records in Redis when each
notification (``X-Notification-Id``) was handed over and how many times, so the benchmark
sees lateness and duplicates across worker processes (even one killed with SIGKILL)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import redis
from django.core.mail.backends.base import BaseEmailBackend


class CountingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        run = os.environ.get("BENCH_MAIL_KEY", "bench:mail")
        now = time.time()
        pipe = client.pipeline()
        for message in email_messages:
            ident = message.extra_headers.get("X-Notification-Id", "?")
            pipe.hincrby(f"{run}:count", ident, 1)
            pipe.hsetnx(f"{run}:at", ident, now)
        pipe.execute()
        return len(email_messages)
