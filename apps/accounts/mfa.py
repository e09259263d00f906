"""MFA policy, written once for pages, admin and sockets.

A staff session (clinician or admin) counts only once it has passed MFA in this session:
the code step of allauth's login, allauth's MFA reauthentication, or setting up the first
authenticator (which proves the device with a code). Having an authenticator is not
enough: a password-only session of a staff user is refused everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from allauth.mfa.models import Authenticator

from apps.accounts.models import STAFF_ROLES, User

# Written by ``mfa_mark_passed`` from allauth's public signals (accounts/signals.py): the
# user it was passed for, so a session reused by someone else never inherits it.
MFA_PASSED_KEY = "_viop_mfa_passed"


def user_has_mfa(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def user_needs_mfa_setup(user: User) -> bool:
    return user.is_authenticated and user.role in STAFF_ROLES and not user_has_mfa(user)


def user_is_staff_role(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.role in STAFF_ROLES


def mfa_mark_passed(session: MutableMapping[str, Any], user: Any) -> None:
    session[MFA_PASSED_KEY] = {"user": str(user.pk), "at": time.time()}


def session_passed_mfa(session: Mapping[str, Any], user: Any) -> bool:
    record = session.get(MFA_PASSED_KEY)
    return isinstance(record, dict) and record.get("user") == str(user.pk)


def staff_session_allowed(user: Any, session: Mapping[str, Any]) -> bool:
    """The rule for every staff entry point (pages, admin, WebSocket connects and frames):
    a patient's session is not concerned; a staff session must have passed MFA."""
    return not user_is_staff_role(user) or session_passed_mfa(session, user)
