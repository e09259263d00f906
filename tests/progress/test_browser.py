"""Done means: on a 360 px phone a patient checks in and fills in a due PHQ-9, sees their
chart change; their clinician sees the caseload row change. Screenshots are saved."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, TOTP_SECRET
from tests.progress.factories import admit, checkin, score

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _row(page, patient):
    return page.locator(f'tr[data-patient="{patient.pk}"]')


def test_patient_checks_in_and_does_due_phq9_on_a_phone_and_clinician_sees_it(
    live_server, new_page, browser_login, patient, program, clinician, artifacts_dir
):
    # A demo-like patient: admitted 15 days ago, intake scores, a few check-ins with a gap.
    admit(patient, program, days_ago=15, by=clinician)
    score(patient, "phq9", 16, days_ago=15, context="intake")
    score(patient, "gad7", 12, days_ago=15, context="intake")
    for days_ago in (1, 2, 4, 5, 6):
        checkin(patient, days_ago=days_ago, mood=4, anxiety=6)

    desk = new_page()
    browser_login(desk, live_server.url, clinician.email, PASSWORD, TOTP_SECRET)
    desk.goto(f"{live_server.url}/progress/caseload/")
    row = _row(desk, patient)
    assert row.locator('[data-col="phq9"]').inner_text().strip() == "16"
    assert row.locator('[data-col="checkin"]').inner_text().strip() == "1 day ago"

    phone = new_page(phone=True)
    browser_login(phone, live_server.url, patient.email, PASSWORD)
    panel = phone.get_by_role("region", name="Daily check-in")
    expect(panel.get_by_role("link", name="Fill in your PHQ-9")).to_be_visible()
    panel.get_by_role("link", name="Check in").click()

    phone.get_by_role("group", name=re.compile(r"^Mood today")).get_by_label(
        "7", exact=True
    ).check()
    phone.get_by_role("group", name=re.compile(r"^Anxiety today")).get_by_label(
        "3", exact=True
    ).check()
    phone.get_by_label("Hours slept last night").fill("7.5")
    phone.get_by_role("group", name="How well did you sleep?").get_by_label(
        "Good", exact=True
    ).check()
    # No horizontal scrolling on a 360 px phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.get_by_role("button", name="Save check-in").click()

    phone.wait_for_url(f"{live_server.url}/progress/")
    expect(phone.get_by_text("Thank you. Your check-in is saved.")).to_be_visible()
    expect(phone.get_by_text("You checked in on 6 of the last 16 days.").first).to_be_visible()
    phone.get_by_role("link", name="Fill in your PHQ-9").click()
    for n in range(1, 9):
        phone.locator(f"#item-phq9-q{n}").get_by_label("Several days").check()
    phone.locator("#item-phq9-q9").get_by_label("Not at all").check()
    phone.get_by_role("button", name="Save answers").click()

    phone.wait_for_url(f"{live_server.url}/progress/")
    expect(phone.get_by_text("Your PHQ-9 is saved: 8 (Mild)")).to_be_visible()
    summary = phone.locator('[data-summary="phq9"]')
    assert "Your PHQ-9 went from 16 to 8 since admission." in summary.inner_text()
    chart = phone.locator("#chart-phq9")
    assert chart.locator("circle.dot").count() == 2
    assert chart.locator("svg[role=img]").get_attribute("aria-labelledby") == "phq9-title phq9-desc"
    chart.scroll_into_view_if_needed()
    chart.screenshot(path=str(artifacts_dir / "progress-phq9-chart-phone.png"))
    phone.screenshot(path=str(artifacts_dir / "progress-my-progress-phone.png"), full_page=True)

    desk.reload()
    row = _row(desk, patient)
    phq9 = row.locator('[data-col="phq9"]').inner_text()
    assert phq9.startswith("8") and "from 16 (-8)" in phq9 and "Response" in phq9
    assert row.locator('[data-col="checkin"]').inner_text().strip() == "Today"
    desk.screenshot(path=str(artifacts_dir / "progress-caseload.png"), full_page=True)
