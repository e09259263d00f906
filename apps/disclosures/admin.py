from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.disclosures.models import Disclosure


@admin.register(Disclosure)
class DisclosureAdmin(admin.ModelAdmin):
    """Read-only: the log is the record of what left the program."""

    list_display = ("id", "patient", "recipient", "kind", "disclosed_at", "by")
    list_filter = ("kind",)
    raw_id_fields = ("patient", "release", "by")
    list_select_related = ("patient", "by")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
