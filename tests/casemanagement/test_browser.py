"""The case-management journey in a real browser: a case manager refers patient to an
outpatient therapist and walks the referral to "appointment made"; the patient, on a phone,
sees the referral and ticks a task done."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from apps.casemanagement.models import Referral, ReferralStatus, Task
from conftest import open_menu
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _step(page, label: str, **extra: str) -> None:
    page.get_by_role("combobox", name="Next step").select_option(label=label)
    for field, value in extra.items():
        page.get_by_label(field).fill(value)
    with page.expect_navigation():
        page.get_by_role("button", name="Record step").click()
    assert page.get_by_test_id("referral-status").first.inner_text() == label


def test_case_manager_refers_and_patient_ticks_a_task(
    live_server, new_page, browser_login, patient, case_manager, therapist, patient_task,
    artifacts_dir,
):  # fmt: skip
    base = live_server.url

    # --- the case manager, on a desktop ---------------------------------------------------
    staff = new_page()
    browser_login(staff, base, case_manager.email, PASSWORD, TOTP_SECRET)
    staff.get_by_role("link", name="Case management").first.click()
    staff.get_by_role("link", name=patient.full_name).click()
    staff.get_by_role("link", name="New referral").click()
    staff.get_by_label("Directory entry").select_option(
        label="Outpatient therapist: Harbor Light Counseling"
    )
    staff.get_by_label("Reason (the patient sees this)").fill("Weekly therapy after the IOP.")
    with staff.expect_navigation():
        staff.get_by_role("button", name="Propose referral").click()
    assert staff.get_by_test_id("referral-status").inner_text() == "Proposed"
    _step(staff, "Sent")
    _step(staff, "Accepted")
    when = timezone.localtime() + dt.timedelta(days=4)
    _step(
        staff,
        "Appointment made",
        **{"Appointment (date and time)": when.strftime("%Y-%m-%dT10:30")},
    )
    referral = Referral.objects.get(patient=patient)
    assert referral.status == ReferralStatus.APPOINTMENT_MADE
    assert list(referral.events.values_list("by", flat=True)) == [case_manager.pk] * 4
    staff.screenshot(
        path=str(artifacts_dir / "casemanagement-referral-desktop.png"), full_page=True
    )

    # --- the patient, on a phone ----------------------------------------------------------
    phone = new_page(phone=True)
    browser_login(phone, base, patient.email, PASSWORD)
    open_menu(phone)
    phone.get_by_role("link", name="Referrals & tasks").first.click()
    phone.wait_for_url(re.compile(r"/case-management/mine/$"))
    card = phone.get_by_test_id("referral").filter(has_text="Harbor Light Counseling")
    assert "Appointment made" in card.inner_text()
    assert "Weekly therapy after the IOP." in card.inner_text()
    with phone.expect_navigation():
        phone.get_by_role("button", name="Mark “Gather pay stubs” done").click()
    task = phone.get_by_test_id("task").filter(has_text="Gather pay stubs")
    assert "done" in task.inner_text()
    assert Task.objects.get(pk=patient_task.pk).done_by == patient
    # nothing sticks out on a 360 px screen
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.screenshot(path=str(artifacts_dir / "casemanagement-mine-phone.png"), full_page=True)
