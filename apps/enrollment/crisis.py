"""The crisis page every patient page links to: 988, the clinic's lines, and the patient's own
safety plan (enrollment keeps it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from apps.accounts.http import AuthenticatedHttpRequest
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.enrollment.selectors import safety_plan_current


@login_required
def crisis(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The numbers are always shown; the safety plan when the patient has one."""
    if not request.user.is_patient:
        return redirect("home")
    plan = safety_plan_current(patient=request.user)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="enrollment.safetyplan",
        object_id=plan.pk if plan else "",
        patient=request.user,
        detail="crisis page",
    )
    return render(request, "enrollment/crisis.html", {"plan": plan})


@login_required
def crisis_saved(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The crisis plan as one self-contained page (its styles inline, no other file), to print
    or to keep on this device: the service worker (``crisis_service_worker``) stores this one
    response and shows it when the network is gone or the session has ended (idle logoff),
    so a patient reaches their plan at 3 am without a password. Sign-out deletes it."""
    if not request.user.is_patient:
        return redirect("home")
    plan = safety_plan_current(patient=request.user)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="enrollment.safetyplan",
        object_id=plan.pk if plan else "",
        patient=request.user,
        detail="crisis plan, saved copy",
    )
    response = render(
        request, "enrollment/crisis_saved.html", {"plan": plan, "saved_at": timezone.now()}
    )
    # Never in the shared HTTP cache; the service worker keeps its own copy on request.
    response["Cache-Control"] = "private, no-store"
    return response


def crisis_service_worker(request: HttpRequest) -> HttpResponse:
    """``static/js/crisis-sw.js`` served under /crisis/, so its scope covers the crisis pages
    and nothing else (a worker's scope is at most its own path; a file under /static/ could
    not control /crisis/ without widening it). Same origin, so the CSP's script-src 'self'
    allows it. No session needed: the browser re-checks it for updates at any time."""
    path = finders.find("js/crisis-sw.js")
    if not path:  # pragma: no cover - the file ships with the app
        raise Http404
    with open(path, encoding="utf-8") as fh:
        body = fh.read()
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
