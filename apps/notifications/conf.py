"""Values derived from the notification settings (``virtualiop/settings.py`` holds them all)."""

from __future__ import annotations

from django.conf import settings


def site_url() -> str:
    """Absolute base for links in e-mail and SMS (ids only in paths)."""
    return str(settings.SITE_URL).rstrip("/")


def email_backend() -> str:
    """The backend notifications use; Django's SMTP backend becomes ours, which records the
    hand-over at SMTP's commit point (``mail.py``)."""
    backend = str(settings.NOTIFICATIONS_EMAIL_BACKEND or settings.EMAIL_BACKEND)
    if backend == "django.core.mail.backends.smtp.EmailBackend":
        return "apps.notifications.mail.HandOverSMTPBackend"
    return backend
