"""In a real browser: the patient's sister, named in a release with her e-mail, is sent the
time of an upcoming appointment and the patient sees it in their disclosure log; the
clinician confirms from the chart that the release's ending event happened, and nothing
more is sent. And a patient revokes a consent, then signs the same version again."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from apps.disclosures.appointment_times import plan_family_times
from apps.disclosures.models import Disclosure
from apps.enrollment import services
from apps.enrollment.models import ConsentKind, ConsentSignature, ReleaseOfInformation
from apps.enrollment.selectors import patient_today
from apps.notifications import tasks
from apps.scheduling.models import Appointment
from conftest import open_menu
from tests.disclosures.test_roi import SISTER
from tests.enrollment.factories import consent_documents
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _in_a_thread(fn):
    """Playwright's event loop runs in the test thread: ORM work and sending go elsewhere."""
    from django.db import connection

    def run():
        try:
            return fn()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def _appointment(patient, clinician, hours: float) -> Appointment:
    starts = (timezone.now() + dt.timedelta(hours=hours)).replace(second=0, microsecond=0)
    return Appointment.objects.create(
        program=patient.patient_profile.program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=50),
    )


def _plan_and_send() -> None:
    plan_family_times(now=timezone.now())
    tasks.deliver_due()


def test_family_times_are_sent_logged_and_stop_once_the_event_is_confirmed(
    live_server, new_page, browser_login, clinician, patient, artifacts_dir
):
    base = live_server.url
    release = services.release_create(by=patient, patient=patient, **SISTER)
    services.release_sign(
        patient=patient, release=release, typed_name=patient.full_name, ip=None, user_agent="t"
    )
    _appointment(patient, clinician, hours=3)
    _in_a_thread(_plan_and_send)
    (sent,) = mail.outbox
    assert sent.to == ["maya@family.example"] and "Pat has a scheduled appointment" in sent.body

    # --- the patient sees it in their disclosure log, on a phone --------------------------
    phone = new_page(phone=True)
    browser_login(phone, base, patient.email, PASSWORD)
    open_menu(phone)
    phone.get_by_role("link", name="My progress").first.click()
    log = phone.locator("#h-disclosures").locator("..")
    expect(log).to_contain_text("Appointment times to Maya Member")
    expect(log).to_contain_text("E-mail with the time of one appointment")
    phone.screenshot(path=str(artifacts_dir / "family-times-log-phone.png"), full_page=True)

    # --- the clinician confirms, from the chart, that the program was completed -----------
    desk = new_page()
    browser_login(desk, base, clinician.email, PASSWORD, TOTP_SECRET)
    desk.goto(f"{base}/progress/patients/{patient.pk}/")
    section = desk.locator("#h-disclosures").locator("..")
    expect(section.get_by_test_id("releases-awaiting-event")).to_contain_text(
        "1 release ends on an event"
    )
    expect(section).to_contain_text("sent automatically")
    section.get_by_label("The event happened on").fill(patient_today(patient).isoformat())
    section.get_by_role("button", name="Confirm the event has happened").click()
    expect(desk.get_by_text("has expired; nothing more is shared under it")).to_be_visible()
    section = desk.locator("#h-disclosures").locator("..")
    expect(section).to_contain_text("Expired")
    expect(section.get_by_test_id("releases-awaiting-event")).to_have_count(0)
    release.refresh_from_db()
    assert release.event_happened_on is not None and release.event_confirmed_by == clinician

    # --- the next appointment's time is not sent -------------------------------------------
    _appointment(patient, clinician, hours=5)
    _in_a_thread(_plan_and_send)
    assert len(mail.outbox) == 1 and Disclosure.objects.count() == 1


def test_a_patient_revokes_a_consent_and_signs_the_same_version_again(
    live_server, new_page, browser_login, patient
):
    base = live_server.url
    treatment = next(d for d in consent_documents() if d.kind == ConsentKind.TREATMENT)
    first = services.consent_sign(
        patient=patient, document=treatment, typed_name=patient.full_name, ip=None, user_agent=""
    )
    phone = new_page(phone=True)
    browser_login(phone, base, patient.email, PASSWORD)
    phone.goto(f"{base}/enrollment/consents/")
    phone.get_by_role("link", name=f"revoke {treatment.title}").click()
    phone.get_by_label("I understand what revoking does and does not undo.").check()
    phone.get_by_role("button", name="Revoke", exact=True).click()
    expect(phone.get_by_text("Revoked. Your care team has been told.")).to_be_visible()

    phone.get_by_role("link", name=f"sign again {treatment.title}").click()
    phone.get_by_label("I have read this document and agree to it.").check()
    phone.get_by_label("Type your full name to sign").fill(patient.full_name)
    phone.get_by_role("button", name="Sign").click()
    phone.goto(f"{base}/enrollment/consents/")
    expect(phone.get_by_role("link", name=f"sign again {treatment.title}")).to_have_count(0)
    signatures = ConsentSignature.objects.filter(patient=patient, document=treatment)
    assert signatures.count() == 2
    assert signatures.get(pk=first.pk).revoked_at is not None
    assert signatures.exclude(pk=first.pk).get().revoked_at is None
    assert ReleaseOfInformation.objects.count() == 0
