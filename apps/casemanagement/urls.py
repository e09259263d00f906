from __future__ import annotations

from django.urls import path

from apps.casemanagement import views

app_name = "casemanagement"

urlpatterns = [
    path("", views.index, name="index"),
    path("mine/", views.mine, name="mine"),
    path("resources/", views.directory, name="directory"),
    path("caseload/", views.caseload, name="caseload"),
    path("patients/<int:patient_id>/", views.patient_record, name="patient"),
    path("patients/<int:patient_id>/needs/", views.need_new, name="need_new"),
    path("patients/<int:patient_id>/referrals/new/", views.referral_new, name="referral_new"),
    path("needs/<int:need_id>/status/", views.need_status, name="need_status"),
    path("needs/<int:need_id>/tasks/", views.task_new, name="task_new"),
    path("tasks/<int:task_id>/done/", views.task_done, name="task_done"),
    path("referrals/<int:referral_id>/", views.referral_detail, name="referral"),
    path(
        "referrals/<int:referral_id>/transition/",
        views.referral_transition,
        name="referral_transition",
    ),
]
