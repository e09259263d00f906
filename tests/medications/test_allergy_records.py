"""Allergies beyond the clinician's entry: the patient reports their own, a mistaken entry is
marked in error (kept on record), and "no known allergies" is told apart from never asked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.medications.models import Allergy
from apps.medications.selectors import allergies_for, no_known_allergies

pytestmark = pytest.mark.django_db

PEANUTS = {"substance": "Peanuts", "kind": "allergy", "reaction": "Hives", "severity": "moderate"}


def test_the_patient_reports_an_allergy_the_clinician_sees_it_as_patient_reported(
    client, login, patient, clinician
):
    login(client, patient)
    response = client.post(reverse("medications:allergy_report"), PEANUTS)
    assert response.status_code == 302
    allergy = Allergy.objects.get(patient=patient)
    assert allergy.recorded_by == patient and allergy.patient_reported
    login(client, clinician)
    page = client.get(reverse("medications:patient", args=[patient.pk])).content.decode()
    assert "Peanuts" in page and "patient-reported" in page


def test_staff_cannot_use_the_patients_report_form(client, login, clinician):
    login(client, clinician)
    assert client.post(reverse("medications:allergy_report"), PEANUTS).status_code == 404
    assert not Allergy.objects.exists()


def test_a_mistaken_allergy_leaves_the_list_but_stays_on_record(
    client, login, patient, clinician, other_clinician
):
    login(client, patient)
    client.post(reverse("medications:allergy_report"), PEANUTS)
    allergy = Allergy.objects.get()
    url = reverse("medications:allergy_error", args=[patient.pk, allergy.pk])
    for who in (patient, other_clinician):
        login(client, who)
        assert client.post(url).status_code == 404
    login(client, clinician)
    assert client.post(url).status_code == 302
    allergy.refresh_from_db()
    assert allergy.entered_in_error_by == clinician and allergy.entered_in_error_at
    assert list(allergies_for(patient=patient)) == []
    assert client.post(url).status_code == 404  # already gone from the list: nothing twice


def test_no_known_allergies_is_recorded_only_when_none_are_listed(
    client, login, patient, clinician
):
    login(client, clinician)
    none_url = reverse("medications:allergy_none", args=[patient.pk])
    client.post(none_url)
    review = no_known_allergies(patient=patient)
    assert review is not None and review.reviewed_by == clinician
    page = client.get(reverse("medications:patient", args=[patient.pk])).content.decode()
    assert "No known allergies" in page
    # An allergy reported later outranks the earlier "none known".
    login(client, patient)
    client.post(reverse("medications:allergy_report"), PEANUTS)
    assert no_known_allergies(patient=patient) is None
    login(client, clinician)
    client.post(none_url)
    assert no_known_allergies(patient=patient) is None
