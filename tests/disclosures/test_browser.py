"""The release-of-information journey in a real browser: the patient (on a phone) signs a
release for their sister; the clinician invites her to a family session by a one-time video
link; the patient revokes the release; the clinician sees it revoked and can neither invite
her again nor log a disclosure under it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.disclosures.models import Disclosure
from apps.enrollment.models import ReleaseOfInformation
from apps.scheduling.models import Appointment
from apps.video.models import VisitGuest
from conftest import open_menu
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_release_signed_used_for_a_family_invite_then_revoked(
    live_server, new_page, browser_login, program, clinician, patient
):
    base = live_server.url
    now = timezone.now()
    visit = Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="family",
        starts_at=now,
        ends_at=now + dt.timedelta(minutes=50),
    )

    # --- the patient writes and signs a release, on a phone ------------------------------
    phone = new_page(phone=True)
    browser_login(phone, base, patient.email, PASSWORD)
    open_menu(phone)
    phone.get_by_role("link", name="Consents and releases").first.click()
    phone.get_by_role("link", name="New release of information").click()
    phone.get_by_label("Who receives it").select_option("family")
    phone.get_by_label("Their name (person or organisation)").fill("Maya Member")
    phone.get_by_label("Relationship to the patient").fill("sister")
    phone.get_by_label("Attendance and participation").check()
    phone.get_by_label("Purpose").fill("Family sessions")
    phone.get_by_label("Or expires when (an event)").fill("when I complete the program")
    phone.get_by_label("They may be told my appointment and session times").check()
    phone.get_by_label("Their e-mail for appointment times").fill("maya@family.example")
    phone.get_by_role("button", name="Continue to sign").click()
    expect(phone.get_by_label("Release text")).to_contain_text("Maya Member (sister)")
    expect(phone.get_by_label("Release text")).to_contain_text("maya@family.example")
    phone.get_by_label("I have read this document and agree to it.").check()
    phone.get_by_label("Type your full name to sign").fill(patient.full_name)
    phone.get_by_role("button", name="Sign").click()
    expect(phone.get_by_text("Release signed.")).to_be_visible()
    expect(phone.locator(".releases")).to_contain_text("Active")
    assert ReleaseOfInformation.objects.get().signed_at is not None

    # --- the clinician invites the sister to the family session ---------------------------
    desk = new_page()
    browser_login(desk, base, clinician.email, PASSWORD, TOTP_SECRET)
    desk.goto(f"{base}/progress/patients/{patient.pk}/")
    expect(desk.locator("#h-disclosures").locator("..")).to_contain_text(
        "Appointment times may be shared with Maya."
    )
    desk.goto(f"{base}/video/visit/{visit.pk}/")
    desk.get_by_label("They join as").select_option("family")
    desk.get_by_label("Release of information naming them").select_option(
        label="Maya Member (sister)"
    )
    desk.get_by_label("The patient agreed").check()
    desk.get_by_role("button", name="Create a one-time link").click()
    link = desk.get_by_label("Invitation link").input_value()
    assert "/video/guest/" in link and VisitGuest.objects.get().name == "Maya"

    # --- the patient revokes it ----------------------------------------------------------
    phone.get_by_role("link", name=re.compile("revoke Maya Member")).click()
    expect(phone.get_by_role("heading", name="What it does not undo")).to_be_visible()
    phone.get_by_label("I understand what revoking does and does not undo.").check()
    phone.get_by_role("button", name="Revoke", exact=True).click()
    expect(phone.get_by_text("Revoked. Your care team has been told.")).to_be_visible()
    expect(phone.locator(".releases")).to_contain_text("Revoked")

    # --- the link already sent no longer opens -------------------------------------------
    guest = new_page(phone=True)
    # The link is built on SITE_URL; open its path on the test server.
    response = guest.goto(base + "/" + link.split("/", 3)[3])
    assert response is not None and response.status == 404

    # --- the clinician sees it at once and can do nothing more under it --------------------
    desk.goto(f"{base}/progress/patients/{patient.pk}/")
    section = desk.locator("#h-disclosures").locator("..")
    expect(section).to_contain_text("1 revoked")
    expect(section).to_contain_text("Revoked")
    desk.goto(f"{base}/video/visit/{visit.pk}/")
    options = desk.get_by_label("Release of information naming them").locator("option")
    expect(options).to_have_count(1)  # only "none (interpreter)"
    desk.goto(f"{base}/disclosures/patients/{patient.pk}/new/")
    expect(desk.get_by_text("The patient has no active release")).to_be_visible()
    desk.get_by_label("What was sent").select_option("records")
    desk.get_by_label("Description").fill("Attendance record")
    desk.get_by_role("button", name="Log the disclosure").click()
    expect(desk.get_by_text("The patient revoked this release")).to_be_visible()
    assert not Disclosure.objects.exists()
