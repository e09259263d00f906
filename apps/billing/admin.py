"""Admin: billing settings and codes per program (admins edit them), and authorizations."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from apps.billing import services
from apps.billing.models import Authorization, BillingCode, BillingSettings


@admin.register(BillingSettings)
class BillingSettingsAdmin(SimpleHistoryAdmin):
    list_display = ["program", "clinic_name", "npi", "per_diem_service", "per_diem_min_minutes"]
    actions = ["fill_common_codes"]

    @admin.action(description="Add the common codes (S9480, H0015, 90853, 9083x, 90791)")
    def fill_common_codes(self, request: HttpRequest, queryset: QuerySet[BillingSettings]) -> None:
        for row in queryset.select_related("program"):
            services.billing_defaults_fill(program=row.program)
        messages.success(request, "Common codes added where missing.")


@admin.register(BillingCode)
class BillingCodeAdmin(SimpleHistoryAdmin):
    list_display = ["program", "service", "code", "min_minutes", "max_minutes", "active"]
    list_filter = ["program", "service", "active"]


@admin.register(Authorization)
class AuthorizationAdmin(SimpleHistoryAdmin):
    list_display = ["patient", "payer", "number", "authorized", "unit", "start_date", "end_date"]
    list_filter = ["payer"]
    search_fields = ["number", "payer"]
    raw_id_fields = ["patient"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: Authorization, form: object, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
