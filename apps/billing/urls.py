from __future__ import annotations

from django.urls import path

from apps.billing import views

app_name = "billing"

urlpatterns = [
    path("", views.home, name="home"),
    path("claims.csv", views.claims_csv, name="claims_csv"),
    path("patients/<int:patient_id>/superbill.pdf", views.superbill_pdf, name="superbill"),
]
