"""Thin views over billing's selectors. Staff only; a program or patient the viewer may not
bill for is a 404 and an audited refusal. Exports are audited per patient."""

from __future__ import annotations

import datetime as dt
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.accounts.http import AuthenticatedHttpRequest
from apps.audit.models import AuditAction
from apps.audit.services import audit_record, audit_refusal
from apps.billing import exports, selectors
from apps.core.params import query_date_or_none, query_int
from apps.programs.selectors import programs_for_staff

DEFAULT_DAYS = 14
STATUS_FILTERS = ("", "billable", "blocked")


def _period(request: HttpRequest, *, strict: bool) -> tuple[dt.date, dt.date] | None:
    """``?start=&end=``: by default the last two weeks. A bad or too long period is a
    warning on the page (defaults shown) and a 400 for an export (``strict``)."""
    today = timezone.localdate()
    earliest, latest = today - dt.timedelta(days=3660), today + dt.timedelta(days=366)
    raw_start, raw_end = request.GET.get("start"), request.GET.get("end")
    end = query_date_or_none(request, "end", earliest=earliest, latest=latest) or today
    start = query_date_or_none(request, "start", earliest=earliest, latest=latest) or (
        end - dt.timedelta(days=DEFAULT_DAYS - 1)
    )
    bad = (raw_start and start.isoformat() != raw_start) or (raw_end and end.isoformat() != raw_end)
    if bad or start > end or (end - start).days >= selectors.MAX_PERIOD_DAYS:
        if strict:
            return None
        messages.warning(
            request,
            _("Choose a period of up to %(days)s days; showing the last two weeks.")
            % {"days": selectors.MAX_PERIOD_DAYS},
        )
        return today - dt.timedelta(days=DEFAULT_DAYS - 1), today
    return start, end


@login_required
@require_GET
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    program_id = query_int(request, "program", minimum=1)
    program = selectors.program_get_for_billing(viewer=user, program_id=program_id)
    if program is None:
        raise audit_refusal(request, "billing.program", program_id or "")
    start, end = _period(request, strict=False)  # type: ignore[misc]
    patient_id = query_int(request, "patient", minimum=1)
    status = request.GET.get("status", "")
    status = status if status in STATUS_FILTERS else ""
    result = selectors.billable_days(
        program=program,
        start=start,
        end=end,
        patient_ids=None if patient_id is None else [patient_id],
    )
    days = result.days
    if status:
        days = [d for d in days if d.billable == (status == "billable")]
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="billing.days",
        object_id=program.pk,
        detail=f"billing page ({len(days)} patient-days)",
    )
    patients = sorted({d.patient for d in result.days}, key=lambda p: (p.full_name, p.pk))
    return render(
        request,
        "billing/home.html",
        {
            "program": program,
            "programs": programs_for_staff(user=user).order_by("name"),
            "result": result,
            "days": days,
            "start": start,
            "end": end,
            "status": status,
            "patient_id": patient_id,
            "patients": patients,
            "billable_count": sum(1 for d in result.days if d.billable),
            "warnings": result.usage_warnings(timezone.localdate()),
        },
    )


@login_required
@require_GET
def claims_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    program_id = query_int(request, "program", minimum=1)
    program = selectors.program_get_for_billing(viewer=user, program_id=program_id)
    if program is None:
        raise audit_refusal(request, "billing.claims", program_id or "")
    period = _period(request, strict=True)
    if period is None:
        return HttpResponseBadRequest(_("Choose a period of up to 92 days."))
    start, end = period
    result = selectors.billable_days(program=program, start=start, end=end)
    billed = {d.patient.pk: d.patient for d in result.days if d.billable}
    body = exports.claims_csv(result, selectors.patients_claim_info(billed))
    for patient in billed.values():
        audit_record(
            actor=user,
            action=AuditAction.EXPORT,
            object_type="billing.claims",
            object_id=program.pk,
            patient=patient,
            detail=f"claims csv {start.isoformat()}..{end.isoformat()}",
        )
    audit_record(
        actor=user,
        action=AuditAction.EXPORT,
        object_type="billing.claims",
        object_id=program.pk,
        detail=f"claims csv ({len(billed)} patients)",
    )
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="claims-{program.pk}-{start.isoformat()}-{end.isoformat()}.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def superbill_pdf(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    from xhtml2pdf import pisa  # slow (~400 ms): only this export needs it

    found = selectors.patient_get_for_billing(viewer=request.user, patient_id=patient_id)
    if found is None:
        raise audit_refusal(request, "billing.superbill", patient_id)
    patient, program = found
    period = _period(request, strict=True)
    if period is None:
        return HttpResponseBadRequest(_("Choose a period of up to 92 days."))
    start, end = period
    result = selectors.billable_days(
        program=program, start=start, end=end, patient_ids=[patient.pk]
    )
    info = selectors.patients_claim_info([patient.pk]).get(patient.pk, {})
    context = exports.superbill_context(result, patient, info)
    context["generated_at"] = timezone.now()
    html = render_to_string("billing/superbill.html", context, request=request)
    out = io.BytesIO()
    if pisa.CreatePDF(html, dest=out, encoding="utf-8").err:
        return HttpResponse(_("The superbill could not be made."), status=500)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="billing.superbill",
        object_id=patient.pk,
        patient=patient,
        detail=f"superbill pdf {start.isoformat()}..{end.isoformat()}",
    )
    response = HttpResponse(out.getvalue(), content_type="application/pdf")
    # An id, never a name, in the file name.
    response["Content-Disposition"] = f'attachment; filename="superbill-{patient.pk}.pdf"'
    response["Cache-Control"] = "no-store"
    return response
