from django.contrib import admin

from apps.programs.models import Program, ProgramStaff


class ProgramStaffInline(admin.TabularInline):
    model = ProgramStaff
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "weekly_hour_floor", "length_weeks", "time_zone", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}
    inlines = [ProgramStaffInline]
