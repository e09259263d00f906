from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core import nav
from apps.core.health import run_checks


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when database, cache, channel layer and broker answer."""
    results = run_checks()
    healthy = all(value == "ok" for value in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": results},
        status=200 if healthy else 503,
    )


def home(request: HttpRequest) -> HttpResponse:
    """Landing page for visitors; each role's dashboard for signed-in users."""
    if not request.user.is_authenticated:
        return render(request, "core/landing.html")
    role = request.user.role
    if role == "admin":
        template = "core/dashboard_admin.html"
    elif role == "clinician":
        template = "core/dashboard_clinician.html"
    else:
        template = "core/dashboard_patient.html"
    return render(request, template, {"panels": nav.panels_for(role, request)})
