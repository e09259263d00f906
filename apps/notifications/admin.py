from __future__ import annotations

from django.contrib import admin

from apps.notifications.models import Notification, NotificationSettings, Outbox, Preference


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "channel",
        "recipient_id",
        "status",
        "due_at",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "channel", "kind")
    search_fields = ("event_key", "dedupe_key")
    date_hierarchy = "due_at"
    readonly_fields = [f.name for f in Outbox._meta.fields]


admin.site.register(Notification)
admin.site.register(Preference)
admin.site.register(NotificationSettings)
