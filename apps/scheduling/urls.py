from __future__ import annotations

from django.urls import path

from apps.scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("", views.my_week, name="my_week"),
    path("today/", views.today, name="today"),
    path("groups/", views.group_list, name="group_list"),
    path("groups/new/", views.group_create, name="group_create"),
    path("groups/<int:group_id>/", views.group_detail, name="group_detail"),
    path("groups/<int:group_id>/edit/", views.group_edit, name="group_edit"),
    path("groups/<int:group_id>/members/", views.member_add, name="member_add"),
    path("memberships/<int:membership_id>/end/", views.member_end, name="member_end"),
    path("groups/<int:group_id>/offers/", views.group_offers_fill, name="group_offers_fill"),
    path(
        "offers/<int:offer_id>/confirm/",
        views.offer_staff_action,
        {"action": "confirm"},
        name="offer_confirm",
    ),
    path(
        "offers/<int:offer_id>/skip/",
        views.offer_staff_action,
        {"action": "skip"},
        name="offer_skip",
    ),
    path("offers/<int:offer_id>/answer/", views.offer_answer, name="offer_answer"),
    path("sessions/<int:session_id>/", views.session_detail, name="session_detail"),
    path("sessions/<int:session_id>/cancel/", views.session_cancel, name="session_cancel"),
    path(
        "sessions/<int:session_id>/attendance/",
        views.session_attendance,
        name="session_attendance",
    ),
    path("programs/<int:program_id>/week/", views.program_week, name="program_week"),
    path("programs/<int:program_id>/hours/", views.program_hours, name="program_hours"),
    path("programs/<int:program_id>/hours.csv", views.program_hours_csv, name="program_hours_csv"),
    path("availability/", views.availability, name="availability"),
    path("appointments/new/", views.appointment_book, name="appointment_book"),
    path("appointments/request/", views.appointment_request, name="appointment_request"),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        views.appointment_reschedule,
        name="appointment_reschedule",
    ),
    path(
        "appointments/<int:appointment_id>/status/",
        views.appointment_status,
        name="appointment_status",
    ),
    path("calendar/", views.calendar_settings, name="calendar"),
    path("feed/<str:token>.ics", views.feed, name="feed"),
]
