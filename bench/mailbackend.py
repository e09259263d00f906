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
    """Its "provider" takes a message when the Redis pipeline runs. Like the production SMTP
    backend (``apps.notifications.mail.HandOverSMTPBackend``, which hands over just before
    the end-of-data line) it offers ``send_handing_over``: the connection and the "body"
    (the queued commands) first, then the hand-over, then the commit."""

    def _pipeline(self, email_messages: Sequence[Any]) -> Any:
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        client.ping()  # connect first, as an SMTP session would
        run = os.environ.get("BENCH_MAIL_KEY", "bench:mail")
        now = time.time()
        pipe = client.pipeline()
        for message in email_messages:
            ident = message.extra_headers.get("X-Notification-Id", "?")
            pipe.hincrby(f"{run}:count", ident, 1)
            pipe.hsetnx(f"{run}:at", ident, now)
        return pipe

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        self._pipeline(email_messages).execute()
        return len(email_messages)

    def send_handing_over(self, message: Any, hand_over: Any) -> bool:
        pipe = self._pipeline([message])
        if not hand_over():
            return False
        pipe.execute()
        return True
