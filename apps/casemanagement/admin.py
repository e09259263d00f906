"""Admin: program admins edit each program's resource directory and who is whose case
manager. Referrals, needs and tasks are clinical records, kept on the audited pages."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.casemanagement import services
from apps.casemanagement.models import CaseManagerAssignment, Resource


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "program", "phone", "areas_served", "is_active")
    list_filter = ("program", "kind", "is_active")
    search_fields = ("name", "areas_served", "notes")
    list_select_related = ("program",)
    fields = (
        "program",
        "kind",
        "name",
        ("phone", "email"),
        "website",
        "address",
        "areas_served",
        "notes",
        "is_active",
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "website":
            kwargs["assume_scheme"] = "https"  # a bare "example.org" is a web site today
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(CaseManagerAssignment)
class CaseManagerAssignmentAdmin(admin.ModelAdmin):
    list_display = ("patient", "case_manager", "started_at", "ended_at")
    list_filter = ("ended_at",)
    list_select_related = ("patient", "case_manager")
    search_fields = ("patient__full_name", "patient__email", "case_manager__full_name")
    autocomplete_fields = ("patient", "case_manager")
    readonly_fields = ("assigned_by", "started_at")

    def get_fields(self, request: HttpRequest, obj: CaseManagerAssignment | None = None):
        return (
            ("patient", "case_manager")
            if obj is None
            else ("patient", "case_manager", "assigned_by", "started_at", "ended_at")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: CaseManagerAssignment | None = None):
        if obj is None:
            return ()
        return ("patient", "case_manager", "assigned_by", "started_at")

    def save_model(
        self, request: HttpRequest, obj: CaseManagerAssignment, form, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Through the service: a new assignment ends the patient's current one.
        saved = services.case_manager_assign(
            patient=obj.patient,
            case_manager=obj.case_manager,
            by=request.user,  # type: ignore[arg-type]
        )
        obj.pk = saved.pk
