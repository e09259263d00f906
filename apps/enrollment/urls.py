from django.urls import path

from apps.enrollment import views

app_name = "enrollment"

urlpatterns = [
    # patient
    path("", views.my_application, name="my_application"),
    path("apply/", views.apply_start, name="apply_start"),
    path("apply/<int:application_id>/", views.apply_resume, name="apply_resume"),
    path("apply/<int:application_id>/details/", views.apply_details, name="apply_details"),
    path("apply/<int:application_id>/screening/", views.apply_screening, name="apply_screening"),
    path(
        "apply/<int:application_id>/screening/<slug:code>/",
        views.apply_measure,
        name="apply_measure",
    ),
    path("apply/<int:application_id>/support/", views.apply_support, name="apply_support"),
    path("apply/<int:application_id>/insurance/", views.apply_insurance, name="apply_insurance"),
    path("apply/<int:application_id>/intake/", views.apply_intake, name="apply_intake"),
    path("apply/<int:application_id>/withdraw/", views.apply_withdraw, name="apply_withdraw"),
    path("consents/", views.consents, name="consents"),
    path("consents/<int:document_id>/sign/", views.consent_sign, name="consent_sign"),
    path("signatures/<int:signature_id>/", views.signature_detail, name="signature_detail"),
    path("releases/new/", views.release_new, name="release_new"),
    path("releases/<int:release_id>/", views.release_detail, name="release_detail"),
    path(
        "releases/<int:release_id>/confirm-event/",
        views.release_event_confirm,
        name="release_event_confirm",
    ),
    path(
        "releases/<int:release_id>/sign-again/",
        views.release_sign_again,
        name="release_sign_again",
    ),
    path("revoke/<slug:kind>/<int:object_id>/", views.revoke, name="revoke"),
    path("treatment-plan/", views.treatment_plan, name="treatment_plan"),
    path("safety-plan/", views.safety_plan, name="safety_plan"),
    # clinician (and the patient for their own summary / card images)
    path("applications/", views.queue, name="queue"),
    path("applications/<int:application_id>/", views.application_detail, name="application_detail"),
    path(
        "applications/<int:application_id>/decide/<slug:action>/",
        views.application_decide,
        name="application_decide",
    ),
    path("applications/<int:application_id>/discharge/", views.discharge, name="discharge"),
    path(
        "applications/<int:application_id>/summary/",
        views.discharge_summary,
        name="discharge_summary",
    ),
    path(
        "applications/<int:application_id>/card/<slug:side>/",
        views.insurance_card,
        name="insurance_card",
    ),
    path(
        "patients/<int:patient_id>/treatment-plan/",
        views.treatment_plan,
        name="patient_treatment_plan",
    ),
    path(
        "patients/<int:patient_id>/releases/new/",
        views.release_new,
        name="patient_release_new",
    ),
    path("patients/<int:patient_id>/consents/", views.patient_consents, name="patient_consents"),
    path(
        "patients/<int:patient_id>/safety-plan/",
        views.safety_plan,
        name="patient_safety_plan",
    ),
]
