"""Signed one-click unsubscribe links for reminder e-mails.

The token names a user id and a kind (no e-mail address, nothing clinical) and is signed
with the secret key; it never expires, like the links it sits in. It can only turn off
e-mail for a reminder kind: safety alerts to clinicians are not reminders and cannot be
turned off this way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core import signing
from django.urls import reverse

from apps.notifications import conf
from apps.notifications.models import REMINDER_KINDS

if TYPE_CHECKING:
    from apps.accounts.models import User

SALT = "notifications.unsubscribe.v1"


def unsubscribe_token(*, user: User, kind: str) -> str:
    return signing.dumps({"u": user.pk, "k": kind}, salt=SALT, compress=True)


def unsubscribe_url(*, user: User, kind: str) -> str:
    path = reverse("notifications:unsubscribe", args=[unsubscribe_token(user=user, kind=kind)])
    return f"{conf.site_url()}{path}"


def unsubscribe_token_read(token: str) -> tuple[int, str] | None:
    """(user id, kind) from a valid token for a reminder kind, else None."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user_id, kind = data.get("u"), data.get("k")
    if not isinstance(user_id, int) or kind not in REMINDER_KINDS:
        return None
    return user_id, str(kind)
