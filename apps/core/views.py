from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
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
    role = request.user.role  # type: ignore[union-attr]
    if role == "admin":
        template = "core/dashboard_admin.html"
    elif role == "clinician":
        template = "core/dashboard_clinician.html"
    else:
        template = "core/dashboard_patient.html"
    return render(request, template, {"panels": nav.panels_for(role, request)})


@login_required
def crisis(request: HttpRequest) -> HttpResponse:
    """The crisis page every patient page links to. The enrollment app replaces the body with
    the patient's own safety plan; the numbers here are always shown."""
    if request.user.role != "patient":  # type: ignore[union-attr]
        return redirect("home")
    from apps.audit.models import AuditAction
    from apps.audit.services import audit_record
    from apps.enrollment.selectors import safety_plan_current

    plan = safety_plan_current(patient=request.user)  # type: ignore[arg-type]
    audit_record(
        actor=request.user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        object_type="enrollment.safetyplan",
        object_id=plan.pk if plan else "",
        patient=request.user,  # type: ignore[arg-type]
        detail="crisis page",
    )
    return render(request, "core/crisis.html", {"plan": plan})
