"""Journey: on a phone a patient reports a medication; their clinician reconciles it and
records an allergy; the patient's next check-in asks about adherence, and the answer is kept."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.medications.models import AdherenceAnswer, Allergy, Medication, Reconciliation
from conftest import open_menu
from tests.factories import PASSWORD, TOTP_SECRET
from tests.progress.factories import admit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_reports_clinician_reconciles_and_checkin_asks_adherence(
    live_server, new_page, browser_login, patient, program, clinician, artifacts_dir
):
    admit(patient, program, days_ago=5, by=clinician)

    phone = new_page(phone=True)
    browser_login(phone, live_server.url, patient.email, PASSWORD)
    open_menu(phone)
    phone.get_by_role("link", name="My medications").click()
    phone.get_by_label("Medication name").press_sequentially("zolo", delay=50)
    # The suggestion list is filled from the drug data set as the patient types.
    phone.locator('#drug-names option[value="Sertraline"]').wait_for(state="attached")
    phone.get_by_label("Medication name").fill("Sertraline")
    phone.get_by_label("Dose (for example 50 mg)").fill("50 mg")
    phone.get_by_label("How often (for example once a day)").fill("once a day")
    phone.get_by_label("Who prescribed it (optional)").fill("Dr. Outside")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.get_by_role("button", name="Add to my list").click()
    phone.get_by_text("Your care team will review this medication.").wait_for()
    phone.screenshot(path=str(artifacts_dir / "medications-patient-reported.png"), full_page=True)
    med = Medication.objects.get(patient=patient)
    assert med.needs_review and med.in_list

    desk = new_page()
    browser_login(desk, live_server.url, clinician.email, PASSWORD, TOTP_SECRET)
    desk.goto(f"{live_server.url}/progress/patients/{patient.pk}/")
    section = desk.get_by_role("region", name="Medications and allergies")
    expect(section.get_by_text("1 patient-reported medication to review")).to_be_visible()
    section.get_by_role("link", name="Manage medications and allergies").click()
    desk.get_by_role("button", name="Confirm Sertraline").click()
    desk.get_by_text("Confirmed.").wait_for()
    desk.get_by_text("Add an allergy or adverse reaction").click()
    desk.get_by_label("Substance", exact=True).fill("Penicillin")
    desk.get_by_label("Reaction", exact=True).fill("Hives")
    desk.get_by_label("Severity", exact=True).select_option("severe")
    desk.get_by_role("button", name="Save allergy").click()
    desk.get_by_text("Allergy recorded.").wait_for()
    desk.goto(f"{live_server.url}/progress/patients/{patient.pk}/")
    alert = desk.get_by_role("note", name="Allergies and adverse reactions")
    assert "Penicillin" in alert.inner_text()
    desk.screenshot(path=str(artifacts_dir / "medications-chart.png"), full_page=True)
    med.refresh_from_db()
    assert med.reconciliation == Reconciliation.CONFIRMED and med.reconciled_by == clinician
    assert Allergy.objects.filter(patient=patient, severity="severe").exists()

    phone.goto(f"{live_server.url}/progress/check-in/")
    phone.get_by_role("group", name=re.compile(r"^Mood today")).get_by_label(
        "6", exact=True
    ).check()
    phone.get_by_role("group", name=re.compile(r"^Anxiety today")).get_by_label(
        "4", exact=True
    ).check()
    phone.get_by_label("Hours slept last night").fill("7")
    phone.get_by_role("group", name="How well did you sleep?").get_by_label(
        "Good", exact=True
    ).check()
    phone.get_by_role("group", name="Took my medications as prescribed today?").get_by_label(
        "Partly", exact=True
    ).check()
    phone.get_by_role("button", name="Save check-in").click()
    phone.wait_for_url(f"{live_server.url}/progress/")
    expect(
        phone.get_by_role("region", name="My medications").get_by_text("Sertraline")
    ).to_be_visible()
    assert AdherenceAnswer.objects.get(patient=patient).answer == "partly"
