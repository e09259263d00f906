from __future__ import annotations

from django.urls import path

from apps.diagnoses import views

app_name = "diagnoses"

urlpatterns = [
    path("codes/search/", views.code_search, name="search"),
    path("patients/<int:patient_id>/", views.patient_diagnoses, name="patient"),
    path("patients/<int:patient_id>/add/", views.diagnosis_add, name="add"),
    path("patients/<int:patient_id>/level-of-care/", views.level_of_care, name="level_of_care"),
    path("<int:diagnosis_id>/edit/", views.diagnosis_edit, name="edit"),
    path("<int:diagnosis_id>/resolve/", views.diagnosis_resolve, name="resolve"),
    path("<int:diagnosis_id>/remove/", views.diagnosis_remove, name="remove"),
]
