from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from apps.medications.models import AdherenceAnswer, Allergy, Medication


@admin.register(Medication)
class MedicationAdmin(SimpleHistoryAdmin):
    list_display = ("id", "patient", "name", "status", "source", "reconciliation", "in_list")
    list_filter = ("status", "source", "reconciliation", "in_list")
    search_fields = ("patient__email", "patient__full_name", "name")
    raw_id_fields = ("patient", "prescriber", "reconciled_by", "entered_by")
    list_select_related = ("patient",)


@admin.register(Allergy)
class AllergyAdmin(SimpleHistoryAdmin):
    list_display = ("id", "patient", "substance", "kind", "severity")
    list_filter = ("kind", "severity")
    search_fields = ("patient__email", "patient__full_name", "substance")
    raw_id_fields = ("patient", "recorded_by")
    list_select_related = ("patient",)


@admin.register(AdherenceAnswer)
class AdherenceAnswerAdmin(admin.ModelAdmin):
    list_display = ("id", "patient", "day", "answer")
    list_filter = ("answer",)
    raw_id_fields = ("patient", "checkin")
    list_select_related = ("patient",)
