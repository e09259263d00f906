"""The messaging journey in a real browser: a patient on a phone writes to Clinical with a
photo (the draft survives a reload first); the clinician finds it in the inbox as needing a
reply and answers; the patient sees the answer and that their message was read."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.audit.models import AuditAction, AuditEvent
from apps.messaging.models import Attachment, Message, Thread
from conftest import open_menu
from tests.factories import PASSWORD, TOTP_SECRET
from tests.messaging.conftest import png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_writes_clinician_replies_patient_sees_receipt(
    live_server, new_page, patient, clinician, browser_login, artifacts_dir, tmp_path
):
    base = live_server.url
    photo = tmp_path / "rash.png"
    photo.write_bytes(png_bytes())

    # --- the patient, on a phone -------------------------------------------------------
    page = new_page(phone=True)
    browser_login(page, base, patient.email, PASSWORD)
    open_menu(page)
    page.get_by_role("link", name=re.compile("^Messages")).first.click()
    page.get_by_role("link", name="New message").click()
    notice = page.get_by_test_id("compose-notice")
    assert "not for emergencies" in notice.inner_text()
    expect(notice.get_by_role("link", name="988")).to_be_visible()
    page.get_by_label("To", exact=True).select_option("clinical")
    page.get_by_label("Subject", exact=True).fill("New medication side effects")
    page.get_by_label("Message", exact=True).fill("Since Monday I have a **rash** on my arms.")
    # The draft is kept on the device: a reload (or a dropped connection) does not lose it.
    page.reload()
    assert (
        page.get_by_label("Message", exact=True).input_value()
        == "Since Monday I have a **rash** on my arms."
    )
    page.get_by_label("Attach a photo or PDF (optional)").set_input_files(str(photo))
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/messages/\d+/"))
    expect(page.get_by_test_id("messages").get_by_text("rash")).to_be_visible()
    assert page.get_by_test_id("receipt").inner_text() == "Sent"
    page.screenshot(path=str(artifacts_dir / "messaging-patient-sent-phone.png"), full_page=True)
    thread = Thread.objects.get()
    assert thread.needs_reply and Attachment.objects.get().content_type == "image/png"

    # --- the clinician, on a desktop ----------------------------------------------------
    staff = new_page()
    browser_login(staff, base, clinician.email, PASSWORD, TOTP_SECRET)
    staff.goto(f"{base}/messages/?filter=needs_reply")
    row = staff.get_by_test_id("thread-list").get_by_role("listitem").first
    assert "Needs reply" in row.inner_text() and patient.full_name in row.inner_text()
    row.get_by_role("link", name="New medication side effects").click()
    expect(staff.get_by_role("link", name=re.compile("Download attachment"))).to_be_visible()
    staff.get_by_label("Your reply").fill("Thanks for the photo. Please stop it and call us today.")
    staff.get_by_role("button", name="Send reply").click()
    staff.wait_for_url(re.compile(r"/messages/\d+/"))
    expect(staff.get_by_test_id("messages").get_by_text("Please stop it")).to_be_visible()
    thread.refresh_from_db()
    assert not thread.needs_reply

    # --- the patient sees the reply and the read receipt --------------------------------
    page.goto(f"{base}/messages/")
    expect(page.get_by_test_id("thread-list").get_by_text("Unread", exact=True)).to_be_visible()
    open_menu(page)
    badge = page.get_by_test_id("messages-unread")  # the nav's count, loaded by htmx
    badge.wait_for()
    assert badge.inner_text().startswith("1")
    page.get_by_role("link", name="New medication side effects").click()
    expect(page.get_by_test_id("messages").get_by_text("Please stop it")).to_be_visible()
    receipts = page.get_by_test_id("receipt")
    assert receipts.first.inner_text() == "Read"
    page.screenshot(path=str(artifacts_dir / "messaging-patient-reply-phone.png"), full_page=True)
    assert Message.objects.count() == 2
    assert AuditEvent.objects.filter(
        actor=patient, action=AuditAction.VIEW, detail="thread read"
    ).exists()


def test_clinician_starts_a_thread_and_the_patient_answers_on_a_phone(
    live_server, new_page, patient, clinician, browser_login
):
    base = live_server.url
    staff = new_page()
    browser_login(staff, base, clinician.email, PASSWORD, TOTP_SECRET)
    staff.goto(f"{base}/messages/")
    staff.get_by_role("link", name="New message").click()
    staff.get_by_label("Patient", exact=True).select_option(label=patient.full_name)
    staff.get_by_label("Topic", exact=True).select_option("clinical")
    staff.get_by_label("Subject", exact=True).fill("Checking in after Tuesday")
    staff.get_by_label("Message", exact=True).fill("How did the new sleep routine go?")
    staff.get_by_role("button", name="Send").click()
    staff.wait_for_url(re.compile(r"/messages/\d+/"))
    thread = Thread.objects.get()
    assert thread.patient == patient and thread.created_by == clinician

    phone = new_page(phone=True)
    browser_login(phone, base, patient.email, PASSWORD)
    phone.goto(f"{base}/messages/")
    phone.get_by_role("link", name="Checking in after Tuesday").click()
    phone.get_by_label("Your reply").fill("Better: asleep by eleven most nights.")
    phone.get_by_role("button", name="Send reply").click()
    phone.wait_for_url(re.compile(r"/messages/\d+/"))
    assert Message.objects.filter(thread=thread, author=patient).exists()
    thread.refresh_from_db()
    assert thread.needs_reply
