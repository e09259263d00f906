"""The one way to record an audit event; every app calls it for reads and writes of PHI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.http import Http404, HttpRequest

from apps.audit.models import AuditAction, AuditEvent
from apps.core import requestcontext

if TYPE_CHECKING:
    from apps.accounts.models import User


def audit_record(
    *,
    actor: User | None,
    action: AuditAction | str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    patient: User | None = None,
    detail: str = "",
    ip: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append an audit event. The request id and client address come from the current
    request (or WebSocket) context unless given.

    ``detail`` is a short note such as a state change; never put clinical text in it.
    """
    ctx = requestcontext.current()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
    if actor is not None and not actor.is_authenticated:
        actor = None
    return AuditEvent.objects.create(
        actor=actor,
        action=str(action),
        patient=patient,
        object_type=object_type or "",
        object_id="" if object_id is None else str(object_id),
        detail=detail[:200],
        ip=ip if ip is not None else (ctx.ip if ctx else None),
        request_id=request_id if request_id is not None else (ctx.request_id if ctx else ""),
    )


def audit_refusal(request: HttpRequest, object_type: str, object_id: object) -> Http404:
    """Record a refused read or write and return the 404 the view raises: a record the
    viewer may not see answers exactly as a missing one does."""
    audit_record(
        actor=getattr(request, "user", None),
        action=AuditAction.DENIED,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
    )
    return Http404()
