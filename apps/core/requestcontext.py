"""The current request's id and client address, for audit events and logs.

Set by ``RequestContextMiddleware`` (HTTP) and by consumers (WebSocket); read by
``audit_record``. Context variables keep concurrent requests apart under ASGI too.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str | None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "request_context", default=None
)


def new_request_id() -> str:
    return uuid.uuid4().hex


def set_current(ctx: RequestContext | None) -> contextvars.Token[RequestContext | None]:
    return _current.set(ctx)


def reset(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def client_ip(meta: Mapping[str, object]) -> str | None:
    """The client address: the socket's own, or behind ``TRUSTED_PROXY_COUNT`` proxies the
    address the outermost of ours saw (it appends it to X-Forwarded-For; what a client put
    there itself comes before and is never read)."""
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if hops > 0 and isinstance(forwarded, str) and forwarded:
        chain = [part.strip() for part in forwarded.split(",")]
        if len(chain) >= hops and chain[-hops]:
            return chain[-hops]
    addr = meta.get("REMOTE_ADDR")
    return addr if isinstance(addr, str) and addr else None
