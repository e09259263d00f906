from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.mfa import user_needs_mfa_setup

LAST_SEEN_KEY = "_viop_last_seen"
# Requests that report on the session without counting as activity: the idle status poll,
# and any background request a page marks with this header (e.g. a notification-count poll),
# so a page left open cannot keep a session alive by itself.
PASSIVE_PATHS = ("/accounts/session/status/",)
PASSIVE_HEADER = "X-Idle-Passive"


def request_is_passive(request: HttpRequest) -> bool:
    return request.path.startswith(PASSIVE_PATHS) or request.headers.get(PASSIVE_HEADER) == "1"


def session_idle_expired(session: object, now: float | None = None) -> bool:
    """True when the session has been idle past IDLE_TIMEOUT_SECONDS. Shared by HTTP and
    WebSocket checks so both end a session at the same moment."""
    last_seen = session.get(LAST_SEEN_KEY)  # type: ignore[attr-defined]
    if last_seen is None:
        return False
    now = time.time() if now is None else now
    return now - float(last_seen) > settings.IDLE_TIMEOUT_SECONDS


class IdleTimeoutMiddleware:
    """Automatic logoff (HIPAA 164.312(a)(2)(iii)) after IDLE_TIMEOUT_SECONDS without activity."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            if session_idle_expired(request.session):
                logout(request)  # also closes this user's sockets (signals.py)
                if request_is_passive(request) or request.headers.get("HX-Request"):
                    return JsonResponse({"authenticated": False, "remaining": 0}, status=401)
                messages.info(request, _("You were signed out after a period of inactivity."))
                return redirect(f"{reverse('account_login')}?next={request.path}")
            if not request_is_passive(request):
                request.session[LAST_SEEN_KEY] = time.time()
        return self.get_response(request)


class UserTimezoneMiddleware:
    """Show times in the viewer's own zone; store them in UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tz = getattr(request.user, "time_zone", None) if request.user.is_authenticated else None
        if tz:
            timezone.activate(
                tz if isinstance(tz, zoneinfo.ZoneInfo) else zoneinfo.ZoneInfo(str(tz))
            )
        else:
            timezone.activate(zoneinfo.ZoneInfo(settings.CLINIC_TIME_ZONE))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class StaffMFARequiredMiddleware:
    """Clinicians and admins reach no page but account and MFA setup until MFA is on."""

    ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz", "/i18n/", "/favicon")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.user.is_authenticated
            and not request.path.startswith(self.ALLOWED_PREFIXES)
            and user_needs_mfa_setup(request.user)  # type: ignore[arg-type]
        ):
            messages.warning(
                request,
                _("Staff accounts must use two-factor authentication. Set it up to continue."),
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)
