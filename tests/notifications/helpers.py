"""What the notification tests share: rows due by e-mail, what the test mailbox received."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.core import mail
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Kind, NotificationSettings

PAST = dt.timedelta(minutes=5)


def no_quiet_hours(user):
    NotificationSettings.objects.update_or_create(
        user=user, defaults={"quiet_start": None, "quiet_end": None}
    )


def due_emails(user, count, *, kind=Kind.SESSION_REMINDER, prefix="scheduling.x"):
    """``count`` e-mails of ``kind`` to ``user``, due five minutes ago (keys ``prefix:n``)."""
    no_quiet_hours(user)
    for n in range(count):
        services.notification_schedule(
            recipient=user,
            kind=kind,
            event_key=f"{prefix}:{n}",
            channels=["email"],
            context={"link": "/rooms/7/"},
            due_at=timezone.now() - PAST,
        )


def sent_ids() -> Counter[str]:
    """How many times each notification (``X-Notification-Id``) reached the test mailbox."""
    return Counter(m.extra_headers["X-Notification-Id"] for m in mail.outbox)
