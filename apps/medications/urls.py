from django.urls import path

from apps.medications import views

app_name = "medications"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("report/", views.report, name="report"),
    path("search/", views.search, name="search"),
    path("patients/<int:patient_id>/", views.patient_list, name="patient"),
    path("patients/<int:patient_id>/add/", views.medication_add, name="add"),
    path("allergies/report/", views.allergy_report, name="allergy_report"),
    path("patients/<int:patient_id>/allergies/", views.allergy_add, name="allergy_add"),
    path("patients/<int:patient_id>/allergies/none/", views.allergy_none, name="allergy_none"),
    path(
        "patients/<int:patient_id>/allergies/<int:allergy_id>/error/",
        views.allergy_error,
        name="allergy_error",
    ),
    path(
        "patients/<int:patient_id>/<int:medication_id>/edit/",
        views.medication_edit,
        name="edit",
    ),
    path(
        "patients/<int:patient_id>/<int:medication_id>/reconcile/",
        views.medication_reconcile,
        name="reconcile",
    ),
]
