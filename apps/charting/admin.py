"""Admin for the record. Signed notes, addenda and co-signatures are read-only here too
(``SignedRecordAdmin``); psychotherapy notes are not in admin at all: only their author
reads them."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from pydantic import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from apps.charting.loader import ContentError, note_template_store
from apps.charting.models import (
    Addendum,
    Cosignature,
    DocumentationPolicy,
    GroupNote,
    Note,
    NoteTemplate,
    Supervision,
    Withholding,
)
from apps.charting.schema import TemplateSpec
from apps.core.content import format_errors
from apps.core.signed import SignedRecordAdmin


class NoteTemplateForm(forms.ModelForm):
    """An admin edits a template by saving a new version: the JSON is checked against the
    same schema as the files."""

    content_json = forms.CharField(
        label="Template (JSON)", widget=forms.Textarea(attrs={"rows": 30, "cols": 100})
    )

    class Meta:
        model = NoteTemplate
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["content_json"].initial = json.dumps(self.instance.content, indent=2)

    def clean_content_json(self) -> TemplateSpec:
        try:
            return TemplateSpec.model_validate(json.loads(self.cleaned_data["content_json"]))
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        except ValidationError as exc:
            raise forms.ValidationError(format_errors(exc)) from exc


@admin.register(NoteTemplate)
class NoteTemplateAdmin(admin.ModelAdmin):
    form = NoteTemplateForm
    list_display = ("title", "slug", "version", "kind", "is_active", "created_at")
    list_filter = ("kind", "is_active")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A stored version never changes (notes point at it); "add" stores a new version.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            stored, _ = note_template_store(spec=form.cleaned_data["content_json"], source="admin")
        except ContentError as exc:
            raise forms.ValidationError(str(exc)) from exc
        obj.pk = stored.pk


@admin.register(DocumentationPolicy)
class DocumentationPolicyAdmin(admin.ModelAdmin):
    list_display = ("program", "late_after_hours", "open_notes")


@admin.register(Supervision)
class SupervisionAdmin(admin.ModelAdmin):
    list_display = ("clinician", "supervisor", "program", "active")
    list_filter = ("program", "active")
    raw_id_fields = ("clinician", "supervisor")


class AddendumInline(admin.TabularInline):
    model = Addendum
    fields = ("signed_at", "signature", "body")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Note)
class NoteAdmin(SimpleHistoryAdmin, SignedRecordAdmin):
    list_display = ("id", "patient", "template", "service_date", "author", "signed_at", "is_late")
    list_filter = ("is_late", "template__slug")
    raw_id_fields = ("patient", "author", "appointment", "group_note", "cosigner", "program")
    inlines = [AddendumInline]


@admin.register(GroupNote)
class GroupNoteAdmin(SimpleHistoryAdmin, SignedRecordAdmin):
    list_display = ("id", "session", "service_date", "author", "signed_at", "is_late")
    raw_id_fields = ("session", "author", "cosigner", "program")
    inlines = [AddendumInline]


@admin.register(Cosignature)
class CosignatureAdmin(SignedRecordAdmin):
    list_display = ("id", "note", "group_note", "supervisor", "signed_at")
    raw_id_fields = ("note", "group_note", "supervisor")


@admin.register(Withholding)
class WithholdingAdmin(SimpleHistoryAdmin):
    list_display = ("note", "reason", "by", "at", "lifted_at")
    raw_id_fields = ("note", "by", "lifted_by")
