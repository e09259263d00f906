"""Admin reads and writes of patient data leave audit rows with the patient; signed records
stay as signed, admin included (issue 24, item 4)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from apps.audit.admin_audit import holds_patient_data, patient_of
from apps.audit.models import AuditEvent
from apps.core.signed import SignedRecordError
from apps.measures.models import MeasureResponse

pytestmark = pytest.mark.django_db


@pytest.fixture
def phq9(patient):
    from tests.progress.factories import score

    return score(patient, "phq9", 9, days_ago=1)


def _plan(patient, clinician, program, problems):
    import datetime as dt

    from apps.enrollment import services

    return services.treatment_plan_save(
        patient=patient,
        program=program,
        by=clinician,
        problems=problems,
        interventions="CBT skills group",
        review_date=dt.date(2030, 1, 1),
        goals=[{"goal": "Sleep better", "objective": "6 h", "target_date": dt.date(2030, 1, 1)}],
    )


def _url(obj, view="change"):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


def _change_form_data(client, obj, **changes):
    """The admin change form's own values, as a browser would post them, with ``changes``."""
    import datetime as dt

    form = client.get(_url(obj)).context["adminform"].form
    data = {}
    for name, value in form.initial.items():
        if isinstance(value, dt.datetime):  # admin's split date and time inputs
            data[f"{name}_0"], data[f"{name}_1"] = value.date(), value.time().replace(microsecond=0)
        else:
            data[name] = "" if value is None else getattr(value, "pk", value)
    return {**data, **changes}


def test_every_model_with_a_patient_link_is_audited():
    """No model admin can opt out by forgetting: only listed reference data is exempt, and
    nothing with a patient field is on that list."""
    for model in admin.site._registry:
        if model._meta.label_lower == "audit.auditevent":
            continue  # the trail itself, read to audit (and read-only)
        names = {f.name for f in model._meta.get_fields()}
        if names & {"patient", "application", "assignment"} or model._meta.label_lower in {
            "accounts.user",
            "accounts.patientprofile",
        }:
            assert holds_patient_data(model), model


def test_admin_views_of_patient_data_are_audited_with_the_patient(
    client, login, admin, patient, phq9
):
    login(client, admin)
    before = AuditEvent.objects.count()
    assert client.get(reverse("admin:measures_measureresponse_changelist")).status_code == 200
    listed = AuditEvent.objects.order_by("-id").first()
    assert (listed.action, listed.object_type, listed.actor) == (
        "view",
        "measures.measureresponse",
        admin,
    )
    assert client.get(_url(phq9)).status_code == 200
    viewed = AuditEvent.objects.order_by("-id").first()
    assert (viewed.action, viewed.object_id, viewed.patient) == ("view", str(phq9.pk), patient)
    assert client.get(_url(phq9, "history")).status_code == 200
    assert AuditEvent.objects.count() == before + 3


def test_admin_writes_of_patient_data_are_audited(client, login, admin, patient, clinician):
    from apps.enrollment import services

    plan = services.safety_plan_save(patient=patient, by=clinician, data={"warning_signs": "old"})
    login(client, admin)
    data = _change_form_data(client, plan, warning_signs="new words", patient=patient.pk)
    response = client.post(_url(plan), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    changed = AuditEvent.objects.filter(action="update", object_type="enrollment.safetyplan").get()
    assert changed.patient == patient and changed.actor == admin
    response = client.post(_url(plan, "delete"), {"post": "yes"})
    assert response.status_code == 302
    deleted = AuditEvent.objects.filter(action="delete", object_type="enrollment.safetyplan").get()
    assert deleted.patient == patient


def test_reference_data_is_not_audited(client, login, admin, program):
    login(client, admin)
    before = AuditEvent.objects.count()
    client.get(reverse("admin:programs_program_changelist"))
    client.get(reverse("admin:programs_program_change", args=[program.pk]))
    assert AuditEvent.objects.count() == before


def test_patient_of_follows_the_links_to_the_patient(patient, clinician, phq9):
    assert patient_of(phq9) == patient
    assert patient_of(patient.patient_profile) == patient
    assert patient_of(clinician) is None


# --- signed records ---------------------------------------------------------------------


def test_a_measure_response_cannot_be_edited_or_deleted_anywhere(client, login, admin, phq9):
    total = phq9.total
    phq9.total = 0
    with pytest.raises(SignedRecordError):
        phq9.save()
    with pytest.raises(SignedRecordError):
        phq9.delete()
    login(client, admin)
    assert client.post(_url(phq9), {"total": 0}).status_code == 403
    assert client.post(_url(phq9, "delete"), {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:measures_measureresponse_changelist")).content.decode()
    assert "delete_selected" not in page
    assert MeasureResponse.objects.get(pk=phq9.pk).total == total


def test_a_signed_treatment_plan_cannot_be_edited_but_a_new_version_can(
    client, login, admin, patient, clinician, program
):
    from apps.enrollment import services
    from apps.enrollment.models import TreatmentPlan

    plan = _plan(patient, clinician, program, "low mood")
    plan.problems = "edited before signing"
    plan.save()  # an unsigned draft is still editable
    services.treatment_plan_sign(plan=plan, patient=patient, typed_name=patient.full_name)
    plan.refresh_from_db()
    plan.problems = "rewritten after signing"
    with pytest.raises(SignedRecordError):
        plan.save()
    login(client, admin)
    assert client.post(_url(plan), {"problems": "x"}).status_code == 403
    assert client.post(_url(plan, "delete"), {"post": "yes"}).status_code == 403
    assert TreatmentPlan.objects.get(pk=plan.pk).problems == "edited before signing"
    # The correction: a new version, the signed one kept as it was.
    _plan(patient, clinician, program, "low mood, reviewed")
    assert TreatmentPlan.objects.filter(patient=patient).count() == 2


def test_a_consent_signature_cannot_be_changed_or_deleted(client, login, admin, patient, program):
    from apps.enrollment import services
    from apps.enrollment.models import ConsentSignature
    from tests.enrollment.factories import application_in, consent_documents

    doc = consent_documents()[0]
    application_in(patient, program)
    sig = services.consent_sign(
        patient=patient, document=doc, typed_name=patient.full_name, ip=None, user_agent=""
    )
    with pytest.raises(SignedRecordError):
        sig.delete()
    login(client, admin)
    assert client.post(_url(sig, "delete"), {"post": "yes"}).status_code == 403
    assert ConsentSignature.objects.filter(pk=sig.pk).exists()


# --- row history ------------------------------------------------------------------------


def test_the_history_answers_who_changed_what_from_what_to_what(
    client, login, admin, clinician, patient
):
    from apps.enrollment import services
    from apps.enrollment.models import SafetyPlan

    services.safety_plan_save(patient=patient, by=clinician, data={"warning_signs": "old"})
    plan = SafetyPlan.objects.filter(patient=patient).latest("version")
    login(client, admin)
    data = _change_form_data(client, plan, warning_signs="pacing at night", patient=patient.pk)
    assert client.post(_url(plan), data).status_code == 302
    newest, before = plan.history.all()[:2]
    delta = newest.diff_against(before)
    assert newest.history_user == admin and newest.history_type == "~"
    [change] = [c for c in delta.changes if c.field == "warning_signs"]
    assert (change.old, change.new) == ("old", "pacing at night")
    assert client.get(_url(plan, "history")).status_code == 200
