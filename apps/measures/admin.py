from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from apps.core.signed import SignedRecordAdmin
from apps.measures.models import MeasureResponse, SafetyFlag


@admin.register(MeasureResponse)
class MeasureResponseAdmin(SignedRecordAdmin):
    list_display = ("id", "patient", "instrument", "total", "band", "context", "taken_at")
    list_filter = ("instrument", "context")
    raw_id_fields = ("patient", "program", "entered_by")
    readonly_fields = ("answers", "total", "band", "flags")


@admin.register(SafetyFlag)
class SafetyFlagAdmin(SimpleHistoryAdmin):
    list_display = (
        "id",
        "patient",
        "program",
        "severity",
        "source",
        "opened_at",
        "acknowledged_at",
    )
    list_filter = ("severity", "program")
    raw_id_fields = ("patient", "program", "response", "acknowledged_by")
