"""The enrollment journey in a real browser: a new patient applies (with a flagged PHQ-9 and
the crisis page that follows), signs consents; a clinician admits them and writes the
treatment and crisis plans; the patient then sees and signs them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.enrollment.models import Application, Status
from apps.measures.models import SafetyFlag
from conftest import open_menu
from tests.enrollment.factories import consent_documents, hold_intake, open_all_week
from tests.factories import PASSWORD, TOTP_SECRET, patient_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def answer(page, question_start: str, choice: str) -> None:
    page.locator("fieldset", has_text=question_start).get_by_label(choice, exact=True).check()


def test_apply_flagged_consent_admit_and_plans(
    live_server, new_page, program, clinician, browser_login, artifacts_dir
):
    consent_documents()
    applicant = patient_in(None, email="new.patient@example.test", full_name="Nora Newpatient")
    base = live_server.url

    # --- the patient applies, on a phone -------------------------------------------------
    page = new_page(phone=True)
    browser_login(page, base, applicant.email, PASSWORD)
    open_menu(page)  # a phone: the navigation is behind the Menu button
    page.get_by_role("link", name="My application").first.click()
    page.get_by_role("button", name=f"Apply to {program.name}").click()
    page.get_by_label("Phone:", exact=True).fill("(415) 555-0123")
    page.get_by_label("Date of birth").fill("1991-04-02")
    page.get_by_label("State you live in").select_option("CA")
    page.get_by_label("Emergency contact name").fill("Ned Contact")
    page.get_by_label("Emergency contact phone").fill("(415) 555-0124")
    page.get_by_label("Reason for seeking care").fill("My anxiety and mood are getting worse.")
    page.get_by_role("button", name="Save and continue").click()

    # PHQ-9 with item 9 above 0: a safety flag and the crisis resources page
    page.wait_for_url(re.compile(r"/screening/phq9/$"))
    for n, text in enumerate(
        ["1. Little", "2. Feeling down", "3. Trouble falling", "4. Feeling tired", "5. Poor",
         "6. Feeling bad", "7. Trouble concentrating", "8. Moving"], 1
    ):  # fmt: skip
        answer(page, text, "More than half the days" if n % 2 else "Several days")
    answer(page, "9. Thoughts that you would be better off dead", "Several days")
    page.get_by_role("button", name="Save answers and continue").click()
    page.wait_for_url(re.compile(r"/support/$"))
    support = page.get_by_role("main")
    assert "call 911" in support.inner_text().lower() or "Call 911" in support.inner_text()
    expect(support.get_by_role("link", name="call 988")).to_be_visible()
    page.screenshot(
        path=str(artifacts_dir / "enrollment-crisis-after-flag-phone.png"), full_page=True
    )
    assert SafetyFlag.objects.filter(patient=applicant, acknowledged_at=None).count() == 1
    page.get_by_role("link", name="Continue my application").click()

    # GAD-7
    page.wait_for_url(re.compile(r"/screening/gad7/$"))
    for n in range(1, 8):
        answer(page, f"{n}. ", "Several days")
    page.get_by_role("button", name="Save answers and continue").click()

    # C-SSRS: follow-up questions stay hidden after "No" to question 2
    page.wait_for_url(re.compile(r"/screening/cssrs/$"))
    answer(page, "1. Have you wished", "No")
    answer(page, "2. Have you actually had", "No")
    expect(page.locator("fieldset", has_text="3. Have you been thinking")).to_be_hidden()
    answer(page, "6. Have you ever done anything", "No")
    page.get_by_role("button", name="Save answers and continue").click()

    # three consents, each signed by typing the full name
    for _ in range(3):
        page.wait_for_url(re.compile(r"/consents/\d+/sign/$"))
        page.get_by_label("I have read this document and agree to it.").check()
        page.get_by_label("Type your full name to sign").fill("Nora Newpatient")
        page.get_by_role("button", name="Sign", exact=True).click()

    page.wait_for_url(re.compile(r"/insurance/$"))
    page.get_by_label("I will pay for myself (self-pay)").check()
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r"/intake/$"))
    soon = timezone.localtime(timezone.now() + dt.timedelta(days=3))
    page.get_by_label("First choice").fill(soon.strftime("%Y-%m-%dT10:00"))
    page.get_by_role("button", name="Submit my application").click()
    page.wait_for_url(re.compile(r"/enrollment/$"))
    assert page.get_by_test_id("status").inner_text() == "Submitted, waiting for intake"
    app = Application.objects.get(patient=applicant)
    assert applicant.consent_signatures.count() == 3

    # --- the clinician schedules the intake, admits, writes both plans ----------------------
    staff = new_page()
    open_all_week(clinician)
    browser_login(staff, base, clinician.email, PASSWORD, TOTP_SECRET)
    staff.get_by_role("link", name="Applications").first.click()
    row = staff.get_by_role("row", name=re.compile("Nora Newpatient"))
    assert "Safety flag" in row.inner_text()
    row.get_by_role("link", name="Nora Newpatient").click()
    staff.get_by_label("Intake appointment").fill(soon.strftime("%Y-%m-%dT11:00"))
    staff.get_by_label("With").select_option(label=clinician.full_name)
    staff.get_by_role("button", name="Schedule intake").click()
    assert staff.get_by_test_id("status").inner_text() == "Intake scheduled"
    assert "Admission opens once the intake has been held" in staff.content()
    hold_intake(app)  # the intake visit takes place
    staff.reload()
    staff.get_by_text("Admit", exact=True).first.click()  # open the <details>
    staff.get_by_label("Start date").fill((soon + dt.timedelta(days=4)).strftime("%Y-%m-%d"))
    staff.get_by_label("Primary clinician").select_option(label=clinician.full_name)
    staff.get_by_role("button", name="Admit", exact=True).click()
    assert staff.get_by_test_id("status").inner_text() == "Admitted"
    app.refresh_from_db()
    assert app.status == Status.ADMITTED

    staff.get_by_role("link", name="Treatment plan").click()
    staff.get_by_label("Problems").fill("Worsening anxiety and low mood; poor sleep.")
    staff.get_by_label("Interventions").fill("CBT skills group three evenings a week.")
    staff.get_by_label("Review date").fill("2030-01-15")
    goal = staff.locator("fieldset", has_text="Goal 1")
    goal.get_by_label("Goal:", exact=True).fill("Feel calmer at work")
    goal.get_by_label("Measurable objective").fill("GAD-7 under 10 by week 6")
    goal.get_by_label("Target date").fill("2030-01-01")
    staff.get_by_role("button", name="Save new version").click()
    expect(staff.get_by_text("Waiting for the patient's signature")).to_be_visible()
    staff.goto(f"{base}/enrollment/applications/{app.pk}/")
    staff.get_by_role("link", name="Crisis (safety) plan").click()
    staff.get_by_label("1. Warning signs").fill("Racing thoughts at night")
    staff.get_by_label("4. People I can ask for help (with phone numbers)").fill(
        "Ned — 555-010-0124"
    )
    staff.get_by_label("The one thing most important to me and worth living for").fill("My garden")
    staff.get_by_role("button", name="Save safety plan").click()
    expect(staff.get_by_text("Safety plan saved.")).to_be_visible()
    # --- the patient sees both plans and signs the treatment plan ---------------------------
    page.goto(f"{base}/enrollment/treatment-plan/")
    expect(page.get_by_text("Feel calmer at work")).to_be_visible()
    page.get_by_label("Type your full name to sign").fill("Nora Newpatient")
    page.get_by_role("button", name="Sign my treatment plan").click()
    expect(page.get_by_text("Signed by the patient")).to_be_visible()
    page.get_by_role("link", name="My crisis plan").click()
    expect(page.get_by_text("My garden")).to_be_visible()
    expect(page.get_by_text("Racing thoughts at night")).to_be_visible()
    expect(page.get_by_role("link", name="call 911")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "enrollment-crisis-plan-phone.png"), full_page=True)
