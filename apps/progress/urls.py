from django.urls import path

from apps.progress import views

app_name = "progress"

urlpatterns = [
    path("", views.my_progress, name="mine"),
    path("check-in/", views.checkin, name="checkin"),
    path("measures/<slug:code>/", views.measure_take, name="measure"),
    path("caseload/", views.caseload, name="caseload"),
    path("patients/<int:patient_id>/", views.patient_chart, name="chart"),
    path("patients/<int:patient_id>/summary/", views.summary, name="summary"),
    path("patients/<int:patient_id>/summary.pdf", views.summary_pdf, name="summary_pdf"),
    path("outcomes/", views.outcomes, name="outcomes"),
    path("outcomes.csv", views.outcomes_csv, name="outcomes_csv"),
]
