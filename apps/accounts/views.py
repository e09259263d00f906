from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.forms import ProfileForm
from apps.accounts.http import AuthenticatedHttpRequest
from apps.core.sessions import LAST_SEEN_KEY


@require_GET
@never_cache
def session_status(request: HttpRequest) -> JsonResponse:
    """Seconds left before idle logoff. Polling this does not count as activity, so a page
    left open in another tab cannot keep a session alive."""
    if not request.user.is_authenticated:
        return JsonResponse({"authenticated": False, "remaining": 0}, status=401)
    last_seen = float(request.session.get(LAST_SEEN_KEY, time.time()))
    remaining = max(0, int(settings.IDLE_TIMEOUT_SECONDS - (time.time() - last_seen)))
    return JsonResponse({"authenticated": True, "remaining": remaining})


@require_POST
@never_cache
def session_keepalive(request: HttpRequest) -> JsonResponse:
    """'Stay signed in': any non-passive request refreshes the idle clock (middleware)."""
    if not request.user.is_authenticated:
        return JsonResponse({"authenticated": False, "remaining": 0}, status=401)
    return JsonResponse({"authenticated": True, "remaining": settings.IDLE_TIMEOUT_SECONDS})


@login_required
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your profile was saved."))
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})
