from __future__ import annotations

from django.contrib import admin

from apps.messaging.models import Attachment, Message, Thread, ThreadState


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("author", "created_at")
    readonly_fields = ("author", "created_at")
    can_delete = False
    show_change_link = True


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    # No subject or body in lists: an admin opens a thread deliberately.
    list_display = ("id", "patient", "audience", "last_message_at", "needs_reply", "assigned_to")
    list_filter = ("audience", "needs_reply")
    raw_id_fields = ("patient", "created_by", "assigned_to", "filed_by", "program")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "author", "created_at")
    raw_id_fields = ("thread", "author")


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("id", "message", "content_type", "size")
    raw_id_fields = ("message",)


@admin.register(ThreadState)
class ThreadStateAdmin(admin.ModelAdmin):
    list_display = ("thread", "user", "last_read_at", "archived_at")
    raw_id_fields = ("thread", "user")
