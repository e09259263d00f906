"""Medication list, allergies, reconciliation, adherence in the check-in, search, audit."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.urls import reverse

from apps.accounts.models import PrescriberRole
from apps.audit.models import AuditEvent
from apps.medications import services
from apps.medications.models import (
    AdherenceAnswer,
    Allergy,
    Medication,
    Reconciliation,
    Source,
    Status,
)
from apps.progress.selectors import local_today
from tests.progress.factories import admit

pytestmark = pytest.mark.django_db


def _reported(patient, name="Sertraline", **extra):
    med, _created = services.medication_report(
        patient=patient, data={"name": name, "dose": "50 mg", **extra}
    )
    return med


def _med_post(**extra):
    data = {
        "client_id": str(uuid.uuid4()),
        "name": "Lithium",
        "dose": "300 mg",
        "route": "oral",
        "frequency": "twice daily",
        "status": "active",
        "start_date": "2026-01-05",
    }
    data.update(extra)
    return data


def _checkin_post(**extra):
    data = {"mood": "6", "anxiety": "4", "sleep_hours": "7", "sleep_quality": "4"}
    data.update(extra)
    return data


# --- access ---------------------------------------------------------------------------------
def test_logged_out_user_is_sent_to_login(client, patient):
    for url in (
        reverse("medications:mine"),
        reverse("medications:patient", args=[patient.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(reverse("medications:add", args=[patient.pk]), _med_post())
    assert response.status_code == 302
    response = client.post(reverse("medications:search"), {"q": "sert"})
    assert response.status_code == 302
    assert not Medication.objects.exists()


def test_outsider_patient_cannot_see_or_change_anothers_list(client, login, patient, outsider):
    med = _reported(patient)
    login(client, outsider)
    assert client.get(reverse("medications:patient", args=[patient.pk])).status_code == 404
    assert (
        client.post(reverse("medications:add", args=[patient.pk]), _med_post()).status_code == 404
    )
    url = reverse("medications:reconcile", args=[patient.pk, med.pk])
    assert client.post(url, {"decision": "confirmed"}).status_code == 404
    # Their own page lists only their own medications.
    page = client.get(reverse("medications:mine"))
    assert page.status_code == 200 and "Sertraline" not in page.content.decode()
    med.refresh_from_db()
    assert med.reconciliation == Reconciliation.PENDING
    assert AuditEvent.objects.filter(actor=outsider, action="denied").exists()


def test_patient_cannot_edit_even_their_own_list(client, login, patient):
    med = _reported(patient)
    login(client, patient)
    assert client.get(reverse("medications:patient", args=[patient.pk])).status_code == 404
    url = reverse("medications:reconcile", args=[patient.pk, med.pk])
    assert client.post(url, {"decision": "confirmed"}).status_code == 404
    assert (
        client.post(reverse("medications:add", args=[patient.pk]), _med_post()).status_code == 404
    )
    assert Medication.objects.count() == 1


def test_other_programs_clinician_is_refused(client, login, patient, other_clinician):
    med = _reported(patient)
    login(client, other_clinician)
    assert client.get(reverse("medications:patient", args=[patient.pk])).status_code == 404
    assert (
        client.post(reverse("medications:add", args=[patient.pk]), _med_post()).status_code == 404
    )
    edit = reverse("medications:edit", args=[patient.pk, med.pk])
    assert client.post(edit, _med_post()).status_code == 404
    allergy = reverse("medications:allergy_add", args=[patient.pk])
    assert client.post(allergy, {"substance": "Latex"}).status_code == 404
    assert Medication.objects.count() == 1 and not Allergy.objects.exists()
    with pytest.raises(PermissionError):
        services.medication_add(patient=patient, by=other_clinician, data=_med_post())


def test_admin_gets_no_medication_pages(client, login, patient, admin):
    login(client, admin)
    assert client.get(reverse("medications:patient", args=[patient.pk])).status_code == 404


# --- clinician writes and bad input -----------------------------------------------------------
def test_clinician_adds_medication_with_in_house_prescriber(client, login, patient, clinician):
    clinician.clinician_profile.prescriber_role = PrescriberRole.PSYCHIATRIST
    clinician.clinician_profile.save()
    login(client, clinician)
    response = client.post(
        reverse("medications:add", args=[patient.pk]), _med_post(prescriber=str(clinician.pk))
    )
    assert response.status_code == 302
    med = Medication.objects.get()
    assert (med.name, med.in_list, med.prescriber, med.source) == (
        "Lithium",
        True,
        clinician,
        Source.CLINICIAN,
    )
    page = client.get(reverse("medications:patient", args=[patient.pk])).content.decode()
    assert "Psychiatrist" in page
    assert AuditEvent.objects.filter(actor=clinician, action="create", patient=patient).exists()


def test_free_text_name_is_saved_and_flagged_not_in_list(client, login, patient, clinician):
    login(client, clinician)
    client.post(reverse("medications:add", args=[patient.pk]), _med_post(name="Grandma's tonic"))
    med = Medication.objects.get()
    assert med.in_list is False
    page = client.get(reverse("medications:patient", args=[patient.pk])).content.decode()
    assert "not in list" in page


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"status": "paused-forever"}, "status"),
        ({"start_date": "2026-03-10", "stop_date": "2026-03-01"}, "stop_date"),
        ({"name": ""}, "name"),
        ({"start_date": "not-a-date"}, "start_date"),
        ({"route": "telepathy"}, "route"),
        ({"prescriber": "999999"}, "prescriber"),
        ({"name": "Sertra\x00line"}, "name"),
    ],
)
def test_bad_medication_input_is_a_form_error_and_writes_nothing(
    client, login, patient, clinician, extra, field
):
    login(client, clinician)
    response = client.post(reverse("medications:add", args=[patient.pk]), _med_post(**extra))
    assert response.status_code == 400
    if not any(
        "\x00" in v for v in extra.values()
    ):  # NUL bytes are refused before the view, by core
        assert response.context["med_form"].errors.get(field)
    assert not Medication.objects.exists()


def test_outside_and_in_house_prescriber_together_is_refused(patient, clinician):
    with pytest.raises(Exception) as exc:
        services.medication_add(
            patient=patient,
            by=clinician,
            data=_med_post(prescriber=str(clinician.pk), outside_prescriber="Dr. Elsewhere"),
        )
    assert "outside_prescriber" in exc.value.message_dict
    assert not Medication.objects.exists()


def test_double_submit_adds_one_medication_and_one_allergy(client, login, patient, clinician):
    login(client, clinician)
    data = _med_post()
    for _ in range(2):
        assert client.post(reverse("medications:add", args=[patient.pk]), data).status_code == 302
    assert Medication.objects.count() == 1
    allergy = {"client_id": str(uuid.uuid4()), "substance": "Penicillin", "severity": "severe"}
    for _ in range(2):
        url = reverse("medications:allergy_add", args=[patient.pk])
        assert client.post(url, allergy).status_code == 302
    assert Allergy.objects.count() == 1


def test_wrong_ids_are_404(client, login, patient, outsider, clinician):
    foreign = _reported(outsider)
    login(client, clinician)
    assert client.get(reverse("medications:patient", args=[999999])).status_code == 404
    url = reverse("medications:reconcile", args=[patient.pk, foreign.pk])
    assert client.post(url, {"decision": "confirmed"}).status_code == 404
    edit = reverse("medications:edit", args=[patient.pk, 999999])
    assert client.get(edit).status_code == 404


def test_unknown_allergy_severity_is_refused(client, login, patient, clinician):
    login(client, clinician)
    url = reverse("medications:allergy_add", args=[patient.pk])
    response = client.post(url, {"substance": "Latex", "severity": "catastrophic"})
    assert response.status_code == 400
    assert not Allergy.objects.exists()


# --- reconciliation -------------------------------------------------------------------------
def test_patient_reports_and_clinician_confirms(client, login, patient, clinician):
    login(client, patient)
    response = client.post(
        reverse("medications:report"),
        {"client_id": str(uuid.uuid4()), "name": "zoloft", "dose": "50 mg", "status": "stopped"},
    )
    assert response.status_code == 302
    med = Medication.objects.get()
    assert med.source == Source.PATIENT and med.needs_review and med.in_list
    assert med.status == Status.ACTIVE  # a patient does not set the status
    login(client, clinician)
    url = reverse("medications:reconcile", args=[patient.pk, med.pk])
    assert client.post(url, {"decision": "confirmed"}).status_code == 302
    med.refresh_from_db()
    assert med.reconciliation == Reconciliation.CONFIRMED
    assert med.reconciled_by == clinician and med.reconciled_at is not None
    # A second click changes nothing and says so.
    client.post(url, {"decision": "not_taking"})
    med.refresh_from_db()
    assert med.reconciliation == Reconciliation.CONFIRMED
    assert (
        AuditEvent.objects.filter(
            actor=clinician, action="transition", object_id=str(med.pk)
        ).count()
        == 1
    )


def test_clinician_marks_not_taking_and_it_stops(client, login, patient, clinician):
    med = _reported(patient)
    login(client, clinician)
    url = reverse("medications:reconcile", args=[patient.pk, med.pk])
    client.post(url, {"decision": "not_taking"})
    med.refresh_from_db()
    assert med.reconciliation == Reconciliation.NOT_TAKING
    assert med.status == Status.STOPPED and med.stop_date is not None


def test_unknown_reconcile_decision_is_400(client, login, patient, clinician):
    med = _reported(patient)
    login(client, clinician)
    url = reverse("medications:reconcile", args=[patient.pk, med.pk])
    assert client.post(url, {"decision": "delete"}).status_code == 400
    med.refresh_from_db()
    assert med.needs_review


def test_editing_a_reported_medication_reconciles_it_as_edited(client, login, patient, clinician):
    med = _reported(patient)
    login(client, clinician)
    url = reverse("medications:edit", args=[patient.pk, med.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, _med_post(name="Sertraline", dose="100 mg", status="active"))
    assert response.status_code == 302
    med.refresh_from_db()
    assert (med.dose, med.reconciliation, med.reconciled_by) == (
        "100 mg",
        Reconciliation.EDITED,
        clinician,
    )


# --- adherence in the check-in ----------------------------------------------------------------
def test_adherence_question_only_with_active_medications(client, login, patient, program):
    admit(patient, program, days_ago=3)
    login(client, patient)
    page = client.get(reverse("progress:checkin")).content.decode()
    assert "Took my medications as prescribed today?" not in page
    assert client.post(reverse("progress:checkin"), _checkin_post()).status_code == 302
    assert not AdherenceAnswer.objects.exists()

    _reported(patient)
    page = client.get(reverse("progress:checkin")).content.decode()
    assert "Took my medications as prescribed today?" in page
    # Required once asked, and only the offered answers.
    response = client.post(reverse("progress:checkin"), _checkin_post())
    assert response.status_code == 400
    response = client.post(reverse("progress:checkin"), _checkin_post(medications_taken="maybe"))
    assert response.status_code == 400
    response = client.post(reverse("progress:checkin"), _checkin_post(medications_taken="partly"))
    assert response.status_code == 302
    answer = AdherenceAnswer.objects.get()
    assert (answer.answer, answer.day) == ("partly", local_today(patient))
    # Editing the day's check-in shows the answer and updates it, still one row.
    page = client.get(reverse("progress:checkin")).content.decode()
    assert (
        'value="partly" checked' in page
        or 'checked value="partly"' in page
        or ('value="partly"' in page and "checked" in page)
    )
    client.post(reverse("progress:checkin"), _checkin_post(medications_taken="yes"))
    assert AdherenceAnswer.objects.get().answer == "yes"


def test_stopped_medications_do_not_ask(client, login, patient, program, clinician):
    admit(patient, program, days_ago=3)
    med = _reported(patient)
    services.medication_reconcile(medication=med, by=clinician, decision="not_taking")
    login(client, patient)
    page = client.get(reverse("progress:checkin")).content.decode()
    assert "Took my medications as prescribed today?" not in page


def test_adherence_is_charted_for_staff(client, login, patient, program, clinician):
    admit(patient, program, days_ago=3)
    _reported(patient)
    login(client, patient)
    client.post(reverse("progress:checkin"), _checkin_post(medications_taken="no"))
    login(client, clinician)
    page = client.get(reverse("progress:chart", args=[patient.pk])).content.decode()
    assert "Medications and allergies" in page
    assert f'data-day="{local_today(patient).isoformat()}"' in page
    assert AuditEvent.objects.filter(
        actor=clinician, object_type="medications.list", detail="chart section"
    ).exists()


def test_allergy_is_prominent_on_chart_and_patient_sees_own_list(client, login, patient, clinician):
    services.allergy_add(
        patient=patient, by=clinician, data={"substance": "Penicillin", "severity": "severe"}
    )
    _reported(patient, name="Quetiapine")
    login(client, clinician)
    page = client.get(reverse("progress:chart", args=[patient.pk])).content.decode()
    assert "allergy-alert" in page and "Penicillin" in page
    login(client, patient)
    mine = client.get(reverse("progress:mine")).content.decode()
    assert "My medications" in mine and "Quetiapine" in mine and "Penicillin" in mine


# --- search ---------------------------------------------------------------------------------
def test_search_returns_names_from_the_data_set(client, login, patient):
    login(client, patient)
    data = client.post(reverse("medications:search"), {"q": "sertr"}).json()
    assert data["results"][0]["name"] == "Sertraline"
    brand = client.post(reverse("medications:search"), {"q": "zoloft"}).json()
    assert brand["results"][0] == {"name": "Sertraline", "matched": "Zoloft"}
    assert client.post(reverse("medications:search"), {"q": "s"}).json() == {"results": []}
    html = client.post(
        reverse("medications:search"), {"name": "quetia"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<option value="Quetiapine">' in html
    # GET would put what was typed in the URL.
    assert client.get(reverse("medications:search") + "?q=sert").status_code == 405


def test_data_set_is_large_and_offline():
    from apps.medications import drugnames

    assert drugnames.size() > 10_000
    assert drugnames.lookup("LITHIUM") == "Lithium"
    assert drugnames.lookup("not a drug at all") is None


# --- audit ----------------------------------------------------------------------------------
def test_reads_and_writes_are_audited(client, login, patient, clinician):
    login(client, patient)
    client.get(reverse("medications:mine"))
    client.post(reverse("medications:report"), {"client_id": str(uuid.uuid4()), "name": "Lithium"})
    med = Medication.objects.get()
    login(client, clinician)
    client.get(reverse("medications:patient", args=[patient.pk]))
    client.post(reverse("medications:edit", args=[patient.pk, med.pk]), _med_post())
    events = AuditEvent.objects.filter(patient=patient)
    assert events.filter(actor=patient, action="view", object_type="medications.list").exists()
    assert events.filter(actor=patient, action="create", object_type="medications.medication")
    assert events.filter(actor=clinician, action="view", object_type="medications.list").exists()
    assert events.filter(actor=clinician, action="update", object_id=str(med.pk)).exists()
    # No clinical text in audit details.
    assert not events.filter(detail__icontains="lithium").exists()


def test_stop_date_before_start_refused_by_database_too(patient, clinician):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Medication.objects.create(
            patient=patient,
            name="X",
            source=Source.CLINICIAN,
            entered_by=clinician,
            start_date=dt.date(2026, 3, 2),
            stop_date=dt.date(2026, 3, 1),
        )
