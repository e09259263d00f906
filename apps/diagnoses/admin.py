"""Admin: lists to look things up, read-only. Diagnoses change through the clinician's page
(the services check codes against the code set and keep one active primary); the history
view shows every change."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from apps.diagnoses.models import Diagnosis, LevelOfCareJustification


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Diagnosis)
class DiagnosisAdmin(_ReadOnly, SimpleHistoryAdmin):
    list_display = ["code", "description", "patient", "rank", "status", "onset_date", "added_at"]
    list_filter = ["status", "rank"]
    search_fields = ["code", "description", "patient__email", "patient__full_name"]
    list_select_related = ["patient"]
    date_hierarchy = "added_at"


@admin.register(LevelOfCareJustification)
class LevelOfCareJustificationAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["patient", "effective_date", "author", "created_at"]
    search_fields = ["patient__email", "patient__full_name"]
    list_select_related = ["patient", "author"]
