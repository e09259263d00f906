"""System checks for production settings that Django's own --deploy checks do not cover."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

# Backends that deliver nothing: fine for development, never for a clinic.
NON_DELIVERING_EMAIL_BACKENDS = frozenset(
    {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
    }
)


@register()
def production_email_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Production needs a real EMAIL_URL: sign-up verification, password resets and
    reminders went to the console when it was missing, and nothing said so."""
    if not settings.PRODUCTION:
        return []
    if settings.EMAIL_URL_SET and settings.EMAIL_BACKEND not in NON_DELIVERING_EMAIL_BACKENDS:
        return []
    return [
        Error(
            "Production sends e-mail through a real server: set EMAIL_URL "
            "(e.g. smtp+tls://user:password@smtp.example.org:587).",
            hint=f"The e-mail backend is {settings.EMAIL_BACKEND}.",
            id="virtualiop.E001",
        )
    ]
