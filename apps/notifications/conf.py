"""Settings for notifications, read from Django settings first, then the environment.

The shared settings module stays untouched: every knob has a default that suits the
embedded development stack, and production sets the environment variables.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings


def _get(name: str, default: Any) -> Any:
    if hasattr(settings, name):
        return getattr(settings, name)
    return os.environ.get(name, default)


def site_url() -> str:
    """Absolute base for links in e-mail and SMS (ids only in paths)."""
    return str(_get("SITE_URL", "http://127.0.0.1:8000")).rstrip("/")


def sending_lease_seconds() -> int:
    """How long a claimed row may stay "sending" without its worker renewing the claim before
    the dispatcher takes it back. A live worker renews every quarter lease (``LeaseKeeper``),
    so this bounds how late the rows of a worker that died on another host are, not how long
    a send may take; a dead worker on the same host is noticed at once."""
    return int(_get("NOTIFICATIONS_SENDING_LEASE_SECONDS", 60))


def delivery_tasks() -> int:
    """How many delivery tasks a dispatcher tick starts at most when rows are due: about the
    number of worker processes (more only wait in the queue and expire)."""
    return int(_get("NOTIFICATIONS_DELIVERY_TASKS", 4))


def max_attempts() -> int:
    return int(_get("NOTIFICATIONS_MAX_ATTEMPTS", 5))


def retry_base_seconds() -> int:
    return int(_get("NOTIFICATIONS_RETRY_BASE_SECONDS", 30))


def email_backend() -> str:
    """The backend notifications use; Django's SMTP backend becomes ours, which records the
    hand-over at SMTP's commit point (``mail.py``)."""
    backend = str(_get("NOTIFICATIONS_EMAIL_BACKEND", "") or settings.EMAIL_BACKEND)
    if backend == "django.core.mail.backends.smtp.EmailBackend":
        return "apps.notifications.mail.HandOverSMTPBackend"
    return backend


def sms_backend() -> str:
    default = "locmem" if getattr(settings, "TESTING", False) else "console"
    return str(_get("SMS_BACKEND", default))


def twilio() -> dict[str, str]:
    return {
        "account_sid": str(_get("TWILIO_ACCOUNT_SID", "")),
        "auth_token": str(_get("TWILIO_AUTH_TOKEN", "")),
        "from_number": str(_get("TWILIO_FROM_NUMBER", "")),
        "base_url": str(_get("TWILIO_API_BASE", "https://api.twilio.com")),
    }


def sms_file_path() -> str:
    return str(_get("SMS_FILE_PATH", settings.VAR_DIR / "sms-outbox.jsonl"))
