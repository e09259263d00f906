"""Auth side effects: record failed logins and passed MFA steps, close a user's sockets
when they sign out, and make them re-read their session when the password or the active
flag may have changed."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_used
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from apps.accounts.mfa import mfa_mark_passed
from apps.accounts.models import LoginAttempt
from apps.accounts.services import user_sockets_close, user_sockets_recheck
from apps.audit.services import audit_record
from apps.core import requestcontext


@receiver(user_login_failed)
def _record_failed_login(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    LoginAttempt.objects.create(
        email=email.lower(),
        ip=requestcontext.client_ip(request.META) if request is not None else None,
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[:300],
    )


@receiver(user_logged_in)
def _audit_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action="login", object_type="accounts.user", object_id=user.pk)


@receiver(authenticator_used)
def _mfa_passed_on_code(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """The code step of a login, or an MFA reauthentication, passed in this session."""
    mfa_mark_passed(request.session, user)


@receiver(authenticator_added)
def _mfa_passed_on_setup(
    sender: Any, request: HttpRequest, user: Any, authenticator: Any, **kwargs: Any
) -> None:
    """Setting up TOTP proves the device with a code, in the signed-in user's own session."""
    if authenticator.type == Authenticator.Type.TOTP and request.user.pk == user.pk:
        mfa_mark_passed(request.session, user)


@receiver(user_logged_out)
def _close_sockets_on_logout(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if user is not None:
        user_sockets_close(user_id=user.pk, reason="logged_out")


_SESSION_FIELDS = frozenset({"password", "is_active"})


def _recheck_sockets_on_user_save(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    """Open sockets answer frames from their last session read (``frame_session_alive``):
    a save that may change the password or the active flag makes them read it again."""
    if created or kwargs.get("raw"):
        return
    if update_fields is None or _SESSION_FIELDS & set(update_fields):
        user_sockets_recheck(user_id=instance.pk)


def connect_user_signals() -> None:
    post_save.connect(
        _recheck_sockets_on_user_save,
        sender=get_user_model(),
        dispatch_uid="accounts-recheck-sockets-on-user-save",
    )
