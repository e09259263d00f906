"""Auth side effects: record failed logins, and close a user's sockets when they sign out."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from apps.accounts.services import user_sockets_close
from apps.core import requestcontext


@receiver(user_login_failed)
def _record_failed_login(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    from apps.accounts.models import LoginAttempt

    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    LoginAttempt.objects.create(
        email=email.lower(),
        ip=requestcontext.client_ip(request.META) if request is not None else None,
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[:300],
    )


@receiver(user_logged_in)
def _audit_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from apps.audit.services import audit_record

    audit_record(actor=user, action="login", object_type="accounts.user", object_id=user.pk)


@receiver(user_logged_out)
def _close_sockets_on_logout(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if user is not None:
        user_sockets_close(user_id=user.pk, reason="logged_out")
