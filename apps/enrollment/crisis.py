"""The crisis page every patient page links to: 988, the clinic's lines, and the patient's own
safety plan (enrollment keeps it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.enrollment.selectors import safety_plan_current


@login_required
def crisis(request: HttpRequest) -> HttpResponse:
    """The numbers are always shown; the safety plan when the patient has one."""
    if request.user.role != "patient":  # type: ignore[union-attr]
        return redirect("home")
    plan = safety_plan_current(patient=request.user)  # type: ignore[arg-type]
    audit_record(
        actor=request.user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        object_type="enrollment.safetyplan",
        object_id=plan.pk if plan else "",
        patient=request.user,  # type: ignore[arg-type]
        detail="crisis page",
    )
    return render(request, "enrollment/crisis.html", {"plan": plan})
