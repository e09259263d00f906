from django.urls import path

from apps.enrollment.views import clinician, consents, patient, plans, releases

app_name = "enrollment"

urlpatterns = [
    # patient
    path("", patient.my_application, name="my_application"),
    path("apply/", patient.apply_start, name="apply_start"),
    path("apply/<int:application_id>/", patient.apply_resume, name="apply_resume"),
    path("apply/<int:application_id>/details/", patient.apply_details, name="apply_details"),
    path("apply/<int:application_id>/screening/", patient.apply_screening, name="apply_screening"),
    path(
        "apply/<int:application_id>/screening/<slug:code>/",
        patient.apply_measure,
        name="apply_measure",
    ),
    path("apply/<int:application_id>/support/", patient.apply_support, name="apply_support"),
    path("apply/<int:application_id>/insurance/", patient.apply_insurance, name="apply_insurance"),
    path("apply/<int:application_id>/intake/", patient.apply_intake, name="apply_intake"),
    path("apply/<int:application_id>/withdraw/", patient.apply_withdraw, name="apply_withdraw"),
    path("consents/", consents.consents, name="consents"),
    path("consents/<int:document_id>/sign/", consents.consent_sign, name="consent_sign"),
    path("signatures/<int:signature_id>/", consents.signature_detail, name="signature_detail"),
    path("releases/new/", releases.release_new, name="release_new"),
    path("releases/<int:release_id>/", releases.release_detail, name="release_detail"),
    path(
        "releases/<int:release_id>/confirm-event/",
        releases.release_event_confirm,
        name="release_event_confirm",
    ),
    path(
        "releases/<int:release_id>/sign-again/",
        releases.release_sign_again,
        name="release_sign_again",
    ),
    path("revoke/<slug:kind>/<int:object_id>/", releases.revoke, name="revoke"),
    path("treatment-plan/", plans.treatment_plan, name="treatment_plan"),
    path("safety-plan/", plans.safety_plan, name="safety_plan"),
    # clinician (and the patient for their own summary / card images)
    path("applications/", clinician.queue, name="queue"),
    path(
        "applications/<int:application_id>/",
        clinician.application_detail,
        name="application_detail",
    ),
    path(
        "applications/<int:application_id>/decide/<slug:action>/",
        clinician.application_decide,
        name="application_decide",
    ),
    path("applications/<int:application_id>/discharge/", clinician.discharge, name="discharge"),
    path(
        "applications/<int:application_id>/summary/",
        clinician.discharge_summary,
        name="discharge_summary",
    ),
    path(
        "applications/<int:application_id>/card/<slug:side>/",
        consents.insurance_card,
        name="insurance_card",
    ),
    path(
        "patients/<int:patient_id>/treatment-plan/",
        plans.treatment_plan,
        name="patient_treatment_plan",
    ),
    path(
        "patients/<int:patient_id>/releases/new/",
        releases.release_new,
        name="patient_release_new",
    ),
    path("patients/<int:patient_id>/consents/", releases.patient_consents, name="patient_consents"),
    path(
        "patients/<int:patient_id>/safety-plan/",
        plans.safety_plan,
        name="patient_safety_plan",
    ),
]
