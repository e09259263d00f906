from __future__ import annotations

from django.urls import path

from apps.scheduling.views import agenda, appointments, feeds, groups, offers, programs, sessions

app_name = "scheduling"

urlpatterns = [
    path("", agenda.my_week, name="my_week"),
    path("today/", agenda.today, name="today"),
    path("groups/", groups.group_list, name="group_list"),
    path("groups/new/", groups.group_create, name="group_create"),
    path("groups/<int:group_id>/", groups.group_detail, name="group_detail"),
    path("groups/<int:group_id>/edit/", groups.group_edit, name="group_edit"),
    path("groups/<int:group_id>/members/", groups.member_add, name="member_add"),
    path("memberships/<int:membership_id>/end/", groups.member_end, name="member_end"),
    path("groups/<int:group_id>/offers/", offers.group_offers_fill, name="group_offers_fill"),
    path(
        "offers/<int:offer_id>/confirm/",
        offers.offer_staff_action,
        {"action": "confirm"},
        name="offer_confirm",
    ),
    path(
        "offers/<int:offer_id>/skip/",
        offers.offer_staff_action,
        {"action": "skip"},
        name="offer_skip",
    ),
    path("offers/<int:offer_id>/answer/", offers.offer_answer, name="offer_answer"),
    path("sessions/<int:session_id>/", sessions.session_detail, name="session_detail"),
    path("sessions/<int:session_id>/cancel/", sessions.session_cancel, name="session_cancel"),
    path(
        "sessions/<int:session_id>/attendance/",
        sessions.session_attendance,
        name="session_attendance",
    ),
    path("programs/<int:program_id>/week/", programs.program_week, name="program_week"),
    path("programs/<int:program_id>/hours/", programs.program_hours, name="program_hours"),
    path(
        "programs/<int:program_id>/hours.csv", programs.program_hours_csv, name="program_hours_csv"
    ),
    path("availability/", appointments.availability, name="availability"),
    path("appointments/new/", appointments.appointment_book, name="appointment_book"),
    path("appointments/request/", appointments.appointment_request, name="appointment_request"),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        appointments.appointment_reschedule,
        name="appointment_reschedule",
    ),
    path(
        "appointments/<int:appointment_id>/status/",
        appointments.appointment_status,
        name="appointment_status",
    ),
    path("calendar/", feeds.calendar_settings, name="calendar"),
    path("feed/<str:token>.ics", feeds.feed, name="feed"),
]
