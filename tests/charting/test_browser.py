"""The documentation journey in a real browser: the facilitator documents a group of three and
signs once; billing waits for the supervisor, who co-signs; the day becomes billable and its
superbill downloads; the patient reads their own part on a phone."""

from __future__ import annotations

import re

import pytest

from apps.charting.models import GroupNote, Note
from conftest import open_menu
from tests.billing.conftest import local_day
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_group_note_signed_cosigned_and_read_by_the_patient(
    live_server,
    new_page,
    browser_login,
    clinician,
    supervised,
    held_session,
    patient,
    member2,
    member3,
):
    base = live_server.url
    doc = new_page()
    browser_login(doc, base, clinician.email, PASSWORD, totp_secret=TOTP_SECRET)
    doc.get_by_role("link", name="Notes", exact=True).first.click()
    doc.get_by_role("button", name="Write group note").click()

    doc.get_by_label("Topic").fill("Urge surfing")
    doc.get_by_label("Interventions").fill("DBT skills practice with role play.")
    doc.get_by_label("Group process").fill("The group settled quickly and supported each other.")
    for member in (patient, member2, member3):
        part = doc.locator("fieldset", has_text=member.full_name)
        part.get_by_label("Participation").select_option("Active")
        part.get_by_label("Progress toward this member's goals").fill(
            f"Progress note for {member.full_name}."
        )
    # Autosave, then sign with the typed name and password.
    doc.get_by_text(re.compile("Saved at")).wait_for()
    doc.get_by_label("Type your full name").fill(clinician.full_name)
    doc.get_by_label("Password or authenticator code").fill(PASSWORD)
    doc.get_by_role("button", name="Sign group note").click()
    doc.get_by_text("Signed for every attendee").wait_for()
    group = GroupNote.objects.get(session=held_session)
    assert (
        group.is_signed()
        and Note.objects.filter(group_note=group, signed_at__isnull=False).count() == 3
    )
    assert group.content["topic"] == "Urge surfing"

    # Billing waits for the co-signature.
    day = local_day(held_session).isoformat()
    billing_url = f"{base}/billing/?program={held_session.group.program_id}&start={day}&end={day}"
    doc.goto(billing_url)
    row = doc.get_by_role("row", name=patient.full_name)
    assert "Not billable" in row.inner_text() and "co-signature" in row.inner_text()

    # The supervisor co-signs from their To co-sign list.
    sup = new_page()
    browser_login(sup, base, supervised.email, PASSWORD, totp_secret=TOTP_SECRET)
    sup.goto(f"{base}/charting/")
    sup.get_by_role("link", name=held_session.group.name).click()
    sup.get_by_label("Type your full name").fill(supervised.full_name)
    sup.get_by_label("Password or authenticator code").fill(PASSWORD)
    sup.get_by_role("button", name="Co-sign", exact=True).click()
    sup.get_by_text("Co-signed.").wait_for()
    assert hasattr(GroupNote.objects.get(pk=group.pk), "cosignature")

    # The day is billable now, and its superbill downloads.
    doc.goto(billing_url)
    row = doc.get_by_role("row", name=patient.full_name)
    assert "Billable" in row.inner_text() and "Not billable" not in row.inner_text()
    with doc.expect_download() as download_info:
        row.get_by_role("link", name="Superbill").click()
    with open(download_info.value.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"

    # The patient, on a phone, reads the shared part and their own part only.
    phone = new_page(phone=True)
    browser_login(phone, base, patient.email, PASSWORD)
    open_menu(phone)
    phone.get_by_role("link", name="My progress").first.click()
    phone.get_by_role("link", name="Group note").click()
    body = phone.locator("main").inner_text()
    assert "Urge surfing" in body and f"Progress note for {patient.full_name}." in body
    assert member2.full_name not in body and member3.full_name not in body
