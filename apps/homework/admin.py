"""Admin: program admins edit module listings and add new content versions (validated by the
same schema as the files). Existing versions are read-only: answers point at them. Patients'
answers are not shown in admin."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from pydantic import ValidationError

from apps.core.content import format_errors
from apps.homework.loader import module_version_create_from_spec
from apps.homework.models import Module, ModuleVersion
from apps.homework.schema import ModuleSpec


@admin.register(Module)
class ModuleAdmin(admin.ModelAdmin):
    list_display = ("title", "skill_area", "estimated_minutes", "is_published", "current_version")
    list_filter = ("skill_area", "is_published")
    search_fields = ("title", "slug")
    readonly_fields = ("slug", "current_version")
    fields = (
        "slug",
        "title",
        "skill_area",
        "summary",
        "estimated_minutes",
        "is_published",
        "current_version",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # modules come from content files (or a new version below)


class ModuleVersionForm(forms.ModelForm):
    content = forms.JSONField(
        help_text="The whole module as JSON (slug, title, skill_area, summary, "
        "estimated_minutes, version, steps). Validated before saving."
    )

    class Meta:
        model = ModuleVersion
        fields = ("content",)

    def clean_content(self) -> Any:
        raw = self.cleaned_data["content"]
        try:
            spec = ModuleSpec.model_validate(raw)
        except ValidationError as exc:
            raise forms.ValidationError(format_errors(exc)) from exc
        if ModuleVersion.objects.filter(module__slug=spec.slug, version=spec.version).exists():
            raise forms.ValidationError(
                f"field 'version': {spec.slug} already has version {spec.version}; "
                "stored versions cannot change, use a higher number"
            )
        self.spec = spec
        return spec.model_dump(mode="json")


@admin.register(ModuleVersion)
class ModuleVersionAdmin(admin.ModelAdmin):
    form = ModuleVersionForm
    list_display = ("module", "version", "step_count", "source", "created_at")
    list_filter = ("module",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ("module", "version", "pretty_content", "content_hash", "source", "created_at")
        return ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return self.get_readonly_fields(request, obj)
        return ("content",)

    @admin.display(description="content")
    def pretty_content(self, obj: ModuleVersion) -> str:
        return json.dumps(obj.content, indent=2, ensure_ascii=False)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ModuleVersion, form: Any, change: bool) -> None:
        # The form refused an existing version number, so this only ever creates.
        saved = module_version_create_from_spec(spec=form.spec, source="admin")
        for name in ("pk", "module_id", "version", "content", "content_hash", "step_count"):
            setattr(obj, name, getattr(saved, name))
        obj.source = saved.source
        obj.created_at = saved.created_at
