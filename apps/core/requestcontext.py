"""The current request's id and client address, for audit events and logs.

Set by ``RequestContextMiddleware`` (HTTP) and by consumers (WebSocket); read by
``audit_record``. Context variables keep concurrent requests apart under ASGI too.
"""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass


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


def client_ip(meta: dict[str, object]) -> str | None:
    """The client address. Behind nginx, X-Real-IP is set by our own proxy (deploy/nginx)."""
    real = meta.get("HTTP_X_REAL_IP")
    if isinstance(real, str) and real:
        return real.strip()
    addr = meta.get("REMOTE_ADDR")
    return addr if isinstance(addr, str) and addr else None
