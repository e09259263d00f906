"""Test e-mail backends. Also used by the real-worker integration test (imported in the
worker subprocess through NOTIFICATIONS_EMAIL_BACKEND)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from django.core.mail import EmailMessage
from django.core.mail.backends import locmem
from django.core.mail.backends.base import BaseEmailBackend


class FailingEmailBackend(BaseEmailBackend):
    """Every send raises, as an SMTP server that is down would."""

    calls = 0

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        type(self).calls += 1
        raise ConnectionRefusedError("smtp down")


class SlowFileEmailBackend(BaseEmailBackend):
    """Writes one JSON line per message to $NOTIF_TEST_MAILBOX, after $NOTIF_TEST_SEND_DELAY
    seconds — a send that takes long enough for a test to kill the worker in the middle.
    A marker file $NOTIF_TEST_MAILBOX.sending-<id> is written when a send starts."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        mailbox = Path(os.environ["NOTIF_TEST_MAILBOX"])
        delay = float(os.environ.get("NOTIF_TEST_SEND_DELAY", "0"))
        for message in email_messages:
            ident = message.extra_headers.get("X-Notification-Id", "?")
            Path(f"{mailbox}.sending-{ident}").touch()
            time.sleep(delay)
            with mailbox.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"id": ident, "to": message.to, "subject": message.subject}))
                fh.write("\n")
        return len(email_messages)


class OpenCountingBackend(locmem.EmailBackend):
    """Records when a connection opens, sends and closes, as an SMTP connection would: an
    ``open()`` on a connection already open does nothing and answers False."""

    events: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_open = False

    def open(self) -> bool:
        if self.is_open:
            return False
        self.is_open = True
        type(self).events.append("open")
        return True

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            type(self).events.append("close")

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        type(self).events.append("send")
        return super().send_messages(email_messages)
