"""Django admin reads and writes of patient data are audited like the app's own, from one
place for every model admin (ours, defaults and third-party ones):

- reads: the site's ``admin_view`` wrapper (apps/accounts/admin_site.py) records a view of a
  changelist, a change form and a history page (``audit_admin_read``);
- writes: admin records every add, change and delete as a ``LogEntry`` (deletions before
  the row goes), and a receiver turns each into an audit event with its patient.

Every model is audited unless it is listed in ``NOT_PATIENT_DATA``, so a new model is covered
the day it gets an admin.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, DELETION
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.http import HttpRequest, HttpResponse

from apps.audit.models import AuditAction
from apps.audit.services import audit_record

# Configuration and reference data that says nothing about any patient.
NOT_PATIENT_DATA = frozenset(
    {
        "admin.logentry",
        "audit.auditevent",  # the trail itself: reading it is how audits are done
        "auth.group",
        "auth.permission",
        "contenttypes.contenttype",
        "sessions.session",
        "sites.site",
        "django_celery_beat.clockedschedule",
        "django_celery_beat.crontabschedule",
        "django_celery_beat.intervalschedule",
        "django_celery_beat.periodictask",
        "django_celery_beat.periodictasks",
        "django_celery_beat.solarschedule",
        "programs.program",
        "enrollment.consentdocument",
        "homework.module",
        "homework.moduleversion",
        "rooms.riskphrase",
        "scheduling.group",
        "scheduling.clinicianavailability",
        "scheduling.availabilityexception",
        "notifications.notificationsettings",
        "accounts.clinicianprofile",
        "accounts.loginattempt",
    }
)

# Where a row's patient is, tried in order: a user that is a patient, or a row that has one.
_PATIENT_LINKS = ("patient", "user", "recipient", "author", "subject", "application", "assignment")


def holds_patient_data(model: type[models.Model]) -> bool:
    return model._meta.label_lower not in NOT_PATIENT_DATA


def patient_of(obj: Any, depth: int = 0) -> Any:
    """The patient a row is about, or None (a staff member's row, or a room)."""
    if obj is None or depth > 2:
        return None
    if getattr(obj, "role", None) == "patient" and hasattr(obj, "is_authenticated"):
        return obj
    for name in _PATIENT_LINKS:
        try:
            value = getattr(obj, name, None)
        except ObjectDoesNotExist:  # a one-to-one row not there
            continue
        found = patient_of(value, depth + 1) if value is not None else None
        if found is not None:
            return found
    return None


def audit_admin_read(
    model_admin: Any, view_name: str, request: HttpRequest, kwargs: dict[str, Any]
) -> None:
    """Record a read of patient data through admin (GET of a list, a change form, a
    history page); a list is one event for the page, not one per row."""
    model = model_admin.model
    if request.method != "GET" or not holds_patient_data(model):
        return
    if view_name == "changelist_view":
        audit_record(
            actor=request.user,  # type: ignore[arg-type]
            action=AuditAction.VIEW,
            object_type=model._meta.label_lower,
            detail="admin list",
        )
        return
    if view_name not in ("change_view", "history_view", "delete_view"):
        return
    object_id = kwargs.get("object_id")
    obj = model_admin.get_object(request, object_id) if object_id else None
    if obj is None:
        return
    audit_record(
        actor=request.user,  # type: ignore[arg-type]
        action=AuditAction.VIEW,
        obj=obj,
        patient=patient_of(obj),
        detail=f"admin {view_name.removesuffix('_view')}",
    )


def audited_admin_view(model_admin: Any, view: Any) -> Any:
    """``view`` of ``model_admin`` with its reads recorded (after a successful answer)."""
    name = getattr(view, "__name__", "")

    def audited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if getattr(response, "status_code", 500) == 200:
            audit_admin_read(model_admin, name, request, kwargs)
        return response

    return audited


def audit_admin_write(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A ``LogEntry`` saved by admin (add, change, delete) as an audit event."""
    if not created or kwargs.get("raw") or instance.content_type_id is None:
        return
    model = instance.content_type.model_class()
    if model is None or not holds_patient_data(model):
        return
    obj = model._default_manager.filter(pk=instance.object_id).first()
    action = {ADDITION: AuditAction.CREATE, DELETION: AuditAction.DELETE}.get(
        instance.action_flag, AuditAction.UPDATE
    )
    audit_record(
        actor=instance.user,
        action=action,
        object_type=model._meta.label_lower,
        object_id=instance.object_id,
        patient=patient_of(obj),
        detail="admin",
    )
