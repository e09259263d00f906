"""MFA policy: staff (clinicians and admins) must have MFA before any clinical page."""

from __future__ import annotations

from allauth.mfa.models import Authenticator

from apps.accounts.models import STAFF_ROLES, User


def user_has_mfa(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def user_needs_mfa_setup(user: User) -> bool:
    return user.is_authenticated and user.role in STAFF_ROLES and not user_has_mfa(user)
