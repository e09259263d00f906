from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from apps.core.signed import SignedRecordAdmin
from apps.enrollment.models import (
    Application,
    ConsentDocument,
    ConsentSignature,
    Discharge,
    ReleaseOfInformation,
    Revocation,
    SafetyPlan,
    Transition,
    TreatmentPlan,
)


@admin.register(ConsentDocument)
class ConsentDocumentAdmin(admin.ModelAdmin):
    """Publish a new version as a new row; a signed version's text is frozen so every
    signature keeps pointing at exactly what was signed."""

    list_display = ("title", "kind", "version", "substance_use_only", "is_active", "published_at")
    list_filter = ("kind", "is_active")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.signatures.exists():
            return ("kind", "version", "title", "body", "substance_use_only")
        return ()


@admin.register(ConsentSignature)
class ConsentSignatureAdmin(SignedRecordAdmin):
    list_display = ("id", "patient", "document", "signed_at")
    raw_id_fields = ("patient", "document", "application")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TransitionInline(admin.TabularInline):
    model = Transition
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "by", "at", "note")


@admin.register(Application)
class ApplicationAdmin(SimpleHistoryAdmin):
    """Read-mostly: status changes go through the state machine in the app, not here."""

    list_display = ("id", "patient", "program", "status", "created_at", "submitted_at")
    list_filter = ("status", "program")
    raw_id_fields = ("patient", "program", "decided_by")
    readonly_fields = ("status",)
    inlines = [TransitionInline]


@admin.register(TreatmentPlan)
class TreatmentPlanAdmin(SimpleHistoryAdmin, SignedRecordAdmin):
    """A signed plan is read-only here too: a review writes a new version in the app."""

    list_display = ("id", "patient", "version", "patient_signed_at")
    raw_id_fields = ("patient", "created_by")


admin.site.register(SafetyPlan, SimpleHistoryAdmin)
admin.site.register(Discharge, SimpleHistoryAdmin)


@admin.register(ReleaseOfInformation)
class ReleaseOfInformationAdmin(SignedRecordAdmin):
    list_display = ("id", "patient", "recipient_kind", "signed_at", "expires_on")
    list_filter = ("recipient_kind",)
    search_fields = ("patient__email", "patient__full_name")
    raw_id_fields = ("patient", "created_by")
    readonly_fields = ("signed_text", "typed_name", "signed_at", "ip", "user_agent")


@admin.register(Revocation)
class RevocationAdmin(admin.ModelAdmin):
    """Read-only: a revocation is the patient's act, recorded once."""

    list_display = ("id", "patient", "signature", "release", "effective_on", "revoked_at")
    raw_id_fields = ("patient", "signature", "release", "by")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
