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

from apps.accounts.mfa import staff_session_allowed, user_has_mfa, user_needs_mfa_setup
from apps.core.sessions import LAST_SEEN_KEY

# Requests that report on the session without counting as activity: the idle status poll,
# and any background request a page marks with this header (e.g. a notification-count poll),
# so a page left open cannot keep a session alive by itself.
PASSIVE_HEADER = "X-Idle-Passive"


def request_is_passive(request: HttpRequest) -> bool:
    return (
        request.path.startswith(reverse("accounts:session_status"))
        or request.headers.get(PASSIVE_HEADER) == "1"
    )


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
    """Staff pages need a session that passed MFA (``staff_session_allowed``).

    A staff user without an authenticator reaches only account pages, to set one up. A
    staff session that skipped the code step although the user has one (a session made
    outside allauth's login) is ended: the user signs in again, code included."""

    ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz", "/i18n/", "/favicon")
    PUBLIC_PREFIXES = ("/static/", "/healthz", "/i18n/", "/favicon")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not user.is_authenticated or request.path.startswith(self.PUBLIC_PREFIXES):
            return self.get_response(request)
        if not staff_session_allowed(user, request.session):
            if user_has_mfa(user):
                logout(request)
                messages.warning(
                    request, _("Sign in again with your authentication code to continue.")
                )
                if request.headers.get("HX-Request") or request_is_passive(request):
                    return JsonResponse({"authenticated": False, "remaining": 0}, status=401)
                return redirect(f"{reverse('account_login')}?next={request.path}")
            if not request.path.startswith(self.ALLOWED_PREFIXES):
                return self._setup_redirect(request)
        elif not request.path.startswith(self.ALLOWED_PREFIXES) and user_needs_mfa_setup(user):
            return self._setup_redirect(request)
        return self.get_response(request)

    @staticmethod
    def _setup_redirect(request: HttpRequest) -> HttpResponse:
        # A fragment fetched by the page (htmx, a poll) gets a plain refusal: following the
        # redirect would render the set-up page again, which draws a new secret and makes
        # the code the user is typing from the first one fail.
        if request.headers.get("HX-Request") or request_is_passive(request):
            return JsonResponse({"authenticated": True, "mfa_setup_required": True}, status=403)
        messages.warning(
            request,
            _("Staff accounts must use two-factor authentication. Set it up to continue."),
        )
        return redirect("mfa_activate_totp")
