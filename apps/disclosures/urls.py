from django.urls import path

from apps.disclosures import views

app_name = "disclosures"

urlpatterns = [
    path("patients/<int:patient_id>/new/", views.disclosure_new, name="new"),
]
