from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.measures import selectors, services
from apps.measures.forms import AcknowledgeForm


@login_required
def flag_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.role not in ("clinician", "admin"):  # type: ignore[union-attr]
        raise Http404
    include_closed = request.GET.get("state") == "all"
    flags = list(selectors.flags_list(user=user, include_closed=include_closed)[:200])  # type: ignore[arg-type]
    audit_record(
        actor=user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        object_type="measures.safetyflag",
        detail=f"flag list ({len(flags)})",
    )
    return render(
        request, "measures/flag_list.html", {"flags": flags, "include_closed": include_closed}
    )


@login_required
@require_http_methods(["GET", "POST"])
def flag_detail(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = selectors.flag_get_for_viewer(viewer=request.user, flag_id=flag_id)  # type: ignore[arg-type]
    if flag is None:
        raise Http404
    if request.method == "POST" and not flag.is_open:
        messages.info(request, _("This flag was already acknowledged."))
        return redirect("measures:flag_detail", flag.pk)
    form = AcknowledgeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.safety_flag_acknowledge(
                flag=flag,
                by=request.user,  # type: ignore[arg-type]
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            form.add_error("note", exc.message_dict.get("note", exc.messages))
        else:
            messages.success(request, _("Flag acknowledged."))
            return redirect("measures:flags")
    audit_record(actor=request.user, action=AuditAction.VIEW, obj=flag, patient=flag.patient)  # type: ignore[arg-type]
    return render(
        request,
        "measures/flag_detail.html",
        {"flag": flag, "form": form},
        status=400 if form.errors else 200,
    )
