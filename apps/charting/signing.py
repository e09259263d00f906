"""An electronic signature on the record: the signer types their full name and proves again
who they are with their password or an authenticator code (as allauth's reauthentication
does). Five wrong tries in five minutes lock signing for that user for five minutes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.mfa.models import Authenticator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from apps.accounts.models import User

TRIES = 5
WINDOW = 300


class SignatureInvalid(ValidationError):
    pass


def _normal(name: str) -> str:
    return " ".join(name.split()).casefold()


def _secret_ok(user: User, secret: str) -> bool:
    secret = secret.strip()
    if not secret:
        return False
    if secret.isdigit() and len(secret) == 6:
        totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if totp is not None and totp.wrap().validate_code(secret):
            return True
    return user.check_password(secret)


def signature_verify(*, user: User, typed_name: str, secret: str) -> str:
    """The signature to store (the name as typed) if it is the user's and the secret proves
    them; raises SignatureInvalid otherwise."""
    key = f"charting:sign-tries:{user.pk}"
    tries = cache.get(key, 0)
    if tries >= TRIES:
        raise SignatureInvalid(
            _("Too many tries. Wait five minutes, then sign again."), code="rate"
        )
    if not typed_name.strip() or _normal(typed_name) != _normal(user.full_name):
        raise SignatureInvalid(
            _("Type your full name exactly as it is on your account: %(name)s.")
            % {"name": user.full_name},
            code="name",
        )
    if not _secret_ok(user, secret):
        cache.set(key, tries + 1, timeout=WINDOW)
        raise SignatureInvalid(
            _("That password or authenticator code is not right."), code="secret"
        )
    cache.delete(key)
    return " ".join(typed_name.split())
