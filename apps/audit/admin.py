from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is looked at, never edited."""

    list_display = ("at", "actor", "action", "patient", "object_type", "object_id", "detail", "ip")
    list_filter = (
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("patient", admin.RelatedOnlyFieldListFilter),
        "object_type",
        "at",
    )
    search_fields = (
        "actor__email",
        "patient__email",
        "patient__full_name",
        "object_id",
        "request_id",
    )
    autocomplete_fields = ()
    raw_id_fields = ("actor", "patient")
    list_select_related = ("actor", "patient")
    date_hierarchy = "at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
