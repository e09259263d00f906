from __future__ import annotations

from django.urls import path

from apps.charting import views

app_name = "charting"

urlpatterns = [
    path("", views.home, name="home"),
    path("mine/", views.my_notes, name="my_notes"),
    path(
        "appointments/<int:appointment_id>/note/", views.appointment_note, name="appointment_note"
    ),
    path("patients/<int:patient_id>/notes/new/", views.patient_note_new, name="patient_note_new"),
    path("patients/<int:patient_id>/psychotherapy/", views.psychotherapy, name="psychotherapy"),
    path("notes/<int:note_id>/", views.note, name="note"),
    path("notes/<int:note_id>/save/", views.note_save, name="note_save"),
    path("notes/<int:note_id>/load-last/", views.note_load_last, name="note_load_last"),
    path("notes/<int:note_id>/sign/", views.note_sign, name="note_sign"),
    path("notes/<int:note_id>/withhold/", views.withhold, name="withhold"),
    path("sessions/<int:session_id>/note/", views.group_note, name="group_note"),
    path("sessions/<int:session_id>/note/save/", views.group_note_save, name="group_note_save"),
    path("sessions/<int:session_id>/note/sign/", views.group_note_sign, name="group_note_sign"),
    path("<str:kind>/<int:pk>/addendum/", views.addendum, name="addendum"),
    path("<str:kind>/<int:pk>/cosign/", views.cosign, name="cosign"),
]
