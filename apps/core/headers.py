"""Browser security policies: Content-Security-Policy (django-csp) and Permissions-Policy
(django-permissions-policy). The policies themselves are in settings; this module adds what
depends on the request (the page's own WebSocket origin) and the per-page exceptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django_permissions_policy.decorators import permissions_policy_override

View = TypeVar("View", bound=Callable[..., Any])


def socket_origin(request: HttpRequest) -> str | None:
    """The ``ws://`` / ``wss://`` origin of this host, as the page's scripts open sockets.

    CSP 3 lets ``'self'`` match same-host WebSockets, but older browsers (Safari before
    15.4) need the origin spelled out, or every room and the sign-out socket are refused.
    """
    try:
        host = request.get_host()
    except DisallowedHost:  # the response is already a 400; nothing may connect anyway
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware with this host's WebSocket origin added to ``connect-src``."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origin = socket_origin(request)
        if origin is not None:
            update = dict(parts.update or {})
            update["connect-src"] = [*update.get("connect-src", ()), origin]
            parts.update = update
        return parts


def media_capture_allowed(view: View) -> View:
    """Let this page's own scripts use the camera, microphone and screen sharing.

    Every other page denies them (``PERMISSIONS_POLICY``): a script injected elsewhere cannot
    open a patient's camera. Put this on every page that shows live video (group rooms, and
    individual visits when they come).
    """
    policy: dict[str, str | list[str] | tuple[str]] = {
        **settings.PERMISSIONS_POLICY,
        **settings.PERMISSIONS_POLICY_MEDIA,
    }
    return permissions_policy_override(policy)(view)
