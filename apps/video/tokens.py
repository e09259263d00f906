"""The two credentials Django signs for the media servers; nothing else mints them.

Janus (``token_auth_secret``) and coturn (``use-auth-secret``) check the HMAC themselves, so a
token a browser holds is worth only what it says, until it says."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

JANUS_REALM = "janus"
VIDEOROOM = "janus.plugin.videoroom"


def _hmac_sha1_b64(secret: str, data: str) -> str:
    digest = hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def janus_token(*, secret: str, expires_at: int, plugins: tuple[str, ...] = (VIDEOROOM,)) -> str:
    """Janus's signed token: ``{expiry},janus,{plugin…}:{base64(HMAC-SHA1(secret, data))}``."""
    data = ",".join([str(int(expires_at)), JANUS_REALM, *plugins])
    return f"{data}:{_hmac_sha1_b64(secret, data)}"


def turn_credentials(*, secret: str, opaque_id: str, expires_at: int) -> tuple[str, str]:
    """coturn's TURN REST credentials: username ``{expiry}:{id}``, password its HMAC."""
    username = f"{int(expires_at)}:{opaque_id}"
    return username, _hmac_sha1_b64(secret, username)


def now() -> int:
    return int(time.time())
