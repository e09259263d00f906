from __future__ import annotations

from django.contrib import admin

from apps.rooms.models import RiskAlert, RiskPhrase, Room


@admin.register(RiskPhrase)
class RiskPhraseAdmin(admin.ModelAdmin):
    list_display = ["phrase", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["phrase"]


@admin.register(RiskAlert)
class RiskAlertAdmin(admin.ModelAdmin):
    """Read-only: alerts are raised by the room; ids only, no message text in the list."""

    list_display = ["id", "message", "patient_id", "phrase", "created_at", "acknowledged_at"]
    readonly_fields = ["message", "patient", "phrase", "created_at"]
    list_filter = ["acknowledged_at"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["session", "locked", "ended_at"]
    readonly_fields = ["session", "ended_at", "ended_by", "ending_notice_at"]
    list_select_related = ["session__group"]

    def has_add_permission(self, request: object) -> bool:
        return False
