from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.notifications.tasks import DISPATCH_EVERY_SECONDS

        # Declared in code; django-celery-beat's DatabaseScheduler installs them at start.
        settings.CELERY_BEAT_SCHEDULE["notifications-dispatch"] = {
            "task": "notifications.dispatch_due",
            "schedule": DISPATCH_EVERY_SECONDS,
            # A tick that waited for a busy worker longer than the interval is dropped: the
            # next one does the same work.
            "options": {"expire_seconds": int(DISPATCH_EVERY_SECONDS)},
        }
        settings.CELERY_BEAT_SCHEDULE["notifications-plan"] = {
            "task": "notifications.plan",
            "schedule": 60.0,
        }
