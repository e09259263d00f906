from __future__ import annotations

from django.urls import path

from apps.homework import views

app_name = "homework"

urlpatterns = [
    path("", views.my_homework, name="index"),
    path("modules/<int:module_id>/start/", views.module_start, name="module_start"),
    path("a/<int:assignment_id>/", views.assignment_work, name="work"),
    path("a/<int:assignment_id>/steps/<slug:step_id>/", views.step_save, name="step_save"),
    path(
        "a/<int:assignment_id>/steps/<slug:step_id>/entries/",
        views.log_entry_add_view,
        name="entry_add",
    ),
    path(
        "a/<int:assignment_id>/steps/<slug:step_id>/entries/<uuid:entry_id>/delete/",
        views.log_entry_delete_view,
        name="entry_delete",
    ),
    path("a/<int:assignment_id>/submit/", views.assignment_submit_view, name="submit"),
    path("review/", views.review_home, name="review"),
    path("review/patients/<int:patient_id>/", views.review_patient, name="review_patient"),
    path("review/groups/<int:group_id>/", views.review_group, name="review_group"),
    path("review/a/<int:assignment_id>/", views.review_assignment, name="review_assignment"),
    path("review/a/<int:assignment_id>/feedback/", views.review_feedback, name="review_feedback"),
    path("review/a/<int:assignment_id>/reopen/", views.review_reopen, name="review_reopen"),
]
