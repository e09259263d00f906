from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.notifications.models import Notification, NotificationSettings, Outbox, Preference
from apps.notifications.services import outbox_retry


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    """Read-only view of the outbox: what is pending, sent, failed (and why), and what a
    worker that died mid-send may or may not have handed over ("outcome unknown")."""

    list_display = (
        "id",
        "kind",
        "channel",
        "recipient_id",
        "status",
        "due_at",
        "attempts",
        "sent_at",
        "last_error",
    )
    list_filter = ("status", "channel", "kind")
    search_fields = ("event_key",)
    date_hierarchy = "due_at"
    readonly_fields = [f.name for f in Outbox._meta.fields]
    actions = ["retry_failed"]
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description=_("Send the selected failed or unknown-outcome messages again"))
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Outbox]) -> None:
        count = outbox_retry(outbox_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, _("%(n)d queued again.") % {"n": count}, messages.SUCCESS)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "recipient_id", "kind", "title", "created_at", "read_at")
    list_filter = ("kind",)
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user_id", "kind", "channel", "enabled", "updated_at")
    list_filter = ("kind", "channel", "enabled")


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ("user_id", "quiet_start", "quiet_end", "checkin_time", "phone_verified_at")
    exclude = ("verification_code_hash",)
