"""Issue 29 #4 in a real browser: a clinician raises a full group's capacity and confirms
the seat offer; the waitlisted patient, on a phone, accepts it and sees the group on My
week."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.scheduling import services
from apps.scheduling.models import GroupMembership, SeatOffer
from tests.factories import PASSWORD, TOTP_SECRET, patient_in
from tests.scheduling.factories import make_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_raise_capacity_confirm_offer_patient_accepts_on_phone(
    live_server, new_page, program, clinician, patient, browser_login, artifacts_dir
):
    group = make_group(program, [clinician], name="Evening Skills Group", days=range(7), capacity=1)
    services.membership_add(group=group, patient=patient, by=clinician)
    waiting = patient_in(program, email="waiting@example.test", full_name="Wren Waiting")
    services.membership_add(group=group, patient=waiting, by=clinician, waitlist_if_full=True)

    page = new_page()
    browser_login(page, live_server.url, clinician.email, PASSWORD, totp_secret=TOTP_SECRET)
    page.goto(f"{live_server.url}/schedule/groups/{group.pk}/edit/")
    page.get_by_label("Capacity").fill("2")
    page.get_by_role("button", name=re.compile("Save")).click()
    page.wait_for_url(re.compile(rf"/schedule/groups/{group.pk}/$"))
    offers = page.locator("#seat-offers")
    assert "Wren Waiting" in offers.inner_text()
    offers.get_by_role("button", name=re.compile("Confirm offer")).click()
    expect(page.locator(".messages").get_by_text("Seat offered to Wren Waiting")).to_be_visible()
    assert SeatOffer.objects.get().status == "offered"
    page.screenshot(path=str(artifacts_dir / "seat-offer-confirmed.png"), full_page=True)

    phone = new_page(phone=True)
    browser_login(phone, live_server.url, waiting.email, PASSWORD)
    phone.goto(f"{live_server.url}/schedule/")
    card = phone.locator("#seat-offers")
    assert "Evening Skills Group" in card.inner_text()
    accept = card.get_by_role("button", name="Accept the seat")
    expect(accept).to_be_visible()
    phone.screenshot(path=str(artifacts_dir / "seat-offer-phone.png"), full_page=True)
    accept.click()
    expect(phone.locator(".messages").get_by_text("You have a seat")).to_be_visible()
    assert GroupMembership.objects.get(group=group, patient=waiting).status == "active"
    assert phone.locator("#seat-offers").count() == 0
    assert "Evening Skills Group" in phone.locator("main").inner_text()
