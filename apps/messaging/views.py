"""Secure messaging pages. Thin: parse, call one selector or service, render. Access is
decided by the selectors (None → 404); services re-check before writing."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.http import AuthenticatedHttpRequest, is_staff
from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.params import query_int
from apps.homework.presentation import render_markdown
from apps.messaging import selectors, services
from apps.messaging.models import Audience, Thread
from apps.messaging.services import MessagingForbidden


def _thread(request: AuthenticatedHttpRequest, thread_id: int) -> Thread:
    thread = selectors.thread_get_for_viewer(user=request.user, thread_id=thread_id)
    if thread is None:
        raise Http404(_("No such conversation."))
    return thread


def _errors(exc: ValidationError) -> dict[str, str]:
    # "__all__" is unreachable from a template (leading underscore): shown as "form".
    if hasattr(exc, "error_dict"):
        return {
            ("form" if k == "__all__" else k): v[0].messages[0] for k, v in exc.error_dict.items()
        }
    return {"form": exc.messages[0]}


def _compose_context(user: User) -> dict[str, Any]:
    """What every compose page shows a patient: reply times, not for emergencies."""
    program = selectors.patient_program(user) if user.is_patient else None
    return {
        "reply_expectation": program.message_reply_expectation if program else "",
        "max_mb": f"{settings.MESSAGING_ATTACHMENT_MAX_BYTES / (1024 * 1024):g}",
        "client_id": uuid.uuid4(),
    }


@login_required
@require_GET
def inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not (user.is_patient or is_staff(user)):
        raise Http404
    which = request.GET.get("filter", "all")
    if which not in selectors.FILTERS or (which in ("needs_reply", "mine") and user.is_patient):
        which = "all"
    threads = list(selectors.inbox(user=user, which=which)[:100])
    audit_record(actor=user, action=AuditAction.VIEW, object_type="messaging.inbox", detail=which)
    return render(
        request,
        "messaging/inbox.html",
        {"threads": threads, "which": which, "staff": not user.is_patient},
    )


@require_GET
def unread_badge(request: HttpRequest) -> HttpResponse:
    """The nav link's unread count, loaded by htmx after the page (core.nav badge)."""
    user = request.user
    count = selectors.unread_count(user=user) if user.is_authenticated else 0
    return render(request, "messaging/partials/unread_badge.html", {"count": count})


@login_required
@require_http_methods(["GET", "POST"])
def compose(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    staff = is_staff(user)
    if not (user.is_patient or staff):
        raise Http404
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"audience": request.GET.get("audience", "")}
    patients = list(selectors.patients_for_compose(user=user)) if staff else []
    if staff and request.GET.get("patient"):
        values["patient"] = str(query_int(request, "patient", default=0))
    if request.method == "POST":
        values = request.POST.dict()
        patient: User | None = user
        if staff:
            pid = request.POST.get("patient", "")
            patient = next((p for p in patients if str(p.pk) == pid), None)
        try:
            if staff and patient is None:
                raise ValidationError({"patient": _("Choose a patient.")})
            thread, _created = services.thread_start(
                by=user,
                patient=patient,
                audience=request.POST.get("audience", ""),
                subject=request.POST.get("subject", ""),
                body=request.POST.get("body", ""),
                client_id=request.POST.get("client_id", ""),
                upload=request.FILES.get("attachment"),
            )
        except ValidationError as exc:
            errors = _errors(exc)
        except MessagingForbidden as exc:
            raise Http404 from exc
        else:
            return redirect(reverse("messaging:thread", args=[thread.pk]) + "?sent=new")
    context = _compose_context(user)
    if values.get("client_id"):
        context["client_id"] = values["client_id"]  # a retry keeps the same id (no duplicate)
    context.update(
        {
            "errors": errors,
            "values": values,
            "audiences": Audience.choices,
            "patients": patients,
            "staff": staff,
            "may_send": not user.is_patient
            or selectors.patient_may_send(patient=user, program=selectors.patient_program(user)),
        }
    )
    return render(request, "messaging/compose.html", context, status=400 if errors else 200)


def _items(thread: Thread, user: User, *, after_id: int = 0) -> list[dict[str, Any]]:
    """What the thread page shows of each message (after ``after_id``)."""
    messages = selectors.thread_messages(thread=thread, after_id=after_id)
    other_read_at = selectors.other_side_read_at(thread=thread, viewer=user)
    return [
        {
            "message": m,
            "html": render_markdown(m.body),
            "mine": m.author_id == user.pk,
            "from_patient": m.author_id == thread.patient_id,
            "read": other_read_at is not None and other_read_at >= m.created_at,  # type: ignore[operator]
            "attachments": list(m.attachments.all()),
        }
        for m in messages
    ]


def _thread_page(
    request: AuthenticatedHttpRequest,
    thread: Thread,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    staff = not user.is_patient
    items = _items(thread, user)
    refused = None
    if user.is_patient and not selectors.patient_may_send(patient=user, program=thread.program):
        refused = services.sending_refused(thread=thread, author=user, patient=user)
    elif thread.is_closed:
        refused = _("This conversation was closed by the care team. Start a new message instead.")
    archived = thread.states.filter(user=user, archived_at__isnull=False).exists()
    services.thread_read(thread=thread, user=user)
    context = _compose_context(user)
    values = values or {}
    if values.get("client_id"):
        context["client_id"] = values["client_id"]
    context.update(
        {
            "thread": thread,
            "items": items,
            "last_id": items[-1]["message"].pk if items else 0,
            "staff": staff,
            "refused": refused,
            "archived": archived,
            "errors": errors or {},
            "values": values,
            "clinicians": list(selectors.staff_for_program(thread.program)) if staff else [],
            "sent": request.GET.get("sent", ""),
        }
    )
    return render(request, "messaging/thread.html", context, status=status)


@login_required
@require_GET
def thread_detail(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    return _thread_page(request, _thread(request, thread_id))


@login_required
@require_GET
def messages_since(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    """The messages stored after ``?after=<id>``, as list items for an open thread page: what
    a pushed "message" event, or a reconnect, makes it fetch. Same access as the page (404),
    and the read is audited and moves the viewer's read marker as opening the page does."""
    user = request.user
    thread = _thread(request, thread_id)
    items = _items(thread, user, after_id=query_int(request, "after", default=0) or 0)
    if items:
        services.thread_read(thread=thread, user=user)
    response = render(
        request, "messaging/partials/messages_since.html", {"items": items, "thread": thread}
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def reply(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    user = request.user
    try:
        services.message_post(
            author=user,
            thread_id=thread_id,
            body=request.POST.get("body", ""),
            client_id=request.POST.get("client_id", ""),
            upload=request.FILES.get("attachment"),
        )
    except MessagingForbidden as exc:
        raise Http404(_("No such conversation.")) from exc
    except ValidationError as exc:
        thread = _thread(request, thread_id)
        return _thread_page(
            request, thread, errors=_errors(exc), values=request.POST.dict(), status=400
        )
    return redirect(reverse("messaging:thread", args=[thread_id]) + "?sent=reply#latest")


@login_required
@require_POST
def archive(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    thread = _thread(request, thread_id)
    archived = request.POST.get("archived") == "1"
    services.thread_archive(thread=thread, user=request.user, archived=archived)
    return redirect(
        "messaging:inbox" if archived else "messaging:thread", *([] if archived else [thread.pk])
    )


@login_required
@require_POST
def assign(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    thread = _thread(request, thread_id)
    try:
        services.thread_assign(
            thread=thread, by=request.user, assignee_id=request.POST.get("assignee")
        )
    except MessagingForbidden as exc:
        raise Http404 from exc
    except ValidationError as exc:
        return _thread_page(request, thread, errors=_errors(exc), status=400)
    return redirect("messaging:thread", thread.pk)


@login_required
@require_POST
def close(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    thread = _thread(request, thread_id)
    try:
        services.thread_close(
            thread=thread, by=request.user, closed=request.POST.get("closed") == "1"
        )
    except MessagingForbidden as exc:
        raise Http404 from exc
    return redirect("messaging:thread", thread.pk)


@login_required
@require_POST
def file_in_chart(request: AuthenticatedHttpRequest, thread_id: int) -> HttpResponse:
    thread = _thread(request, thread_id)
    try:
        services.thread_file(thread=thread, by=request.user)
    except MessagingForbidden as exc:
        raise Http404 from exc
    return redirect("messaging:thread", thread.pk)


@login_required
@require_GET
def attachment_download(request: AuthenticatedHttpRequest, attachment_id: int) -> FileResponse:
    user = request.user
    attachment = selectors.attachment_get_for_viewer(user=user, attachment_id=attachment_id)
    if attachment is None:
        raise Http404(_("No such attachment."))
    try:
        handle = attachment.file.open("rb")
    except OSError as exc:
        raise Http404(_("No such attachment.")) from exc
    audit_record(
        actor=user,
        action=AuditAction.EXPORT,
        obj=attachment,
        patient=attachment.message.thread.patient,
        detail="message attachment",
    )
    # Always a download, never rendered in the page; the name carries no patient data.
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"attachment-{attachment.pk}.{attachment.extension}",
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
