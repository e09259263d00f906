"""Browser journeys for the foundation: sign up → verify → dashboard; staff → MFA setup."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from conftest import open_menu
from tests.factories import PASSWORD, clinician_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_signs_up_verifies_email_and_reaches_dashboard(
    live_server, new_page, artifacts_dir
):
    page = new_page(phone=True)
    page.goto(live_server.url)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.get_by_role("link", name="Apply — create an account").click()

    page.get_by_label("Full name").fill("Robin Newcomer")
    page.get_by_label("Preferred name (optional)").fill("Robin")
    page.get_by_label("Email").fill("robin@example.test")
    page.get_by_label("Password", exact=True).fill("a-long-enough-passphrase")
    page.get_by_label("Password (again)").fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))

    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page.goto(link.group(0))
    page.get_by_role("button", name="Yes, confirm it").click()

    # Confirmation signs the new patient in and lands on their dashboard.
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Hello, Robin")).to_be_visible()
    banner = page.get_by_role("complementary", name="Crisis help")
    assert "988" in banner.inner_text()
    page.screenshot(path=str(artifacts_dir / "patient-dashboard-phone.png"), full_page=True)

    # Sign out, then sign in again with the password.
    open_menu(page)  # a phone: the navigation is behind the Menu button
    with page.expect_navigation():  # sign-out first forgets a saved crisis plan (app.js)
        page.get_by_role("button", name="Sign out").first.click()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("robin@example.test")
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Hello, Robin")).to_be_visible()


def test_clinician_without_mfa_is_sent_to_set_it_up(
    live_server, page, program, browser_login, artifacts_dir
):
    from conftest import totp_now

    clinician = clinician_in(program, mfa=False, email="new.clinician@example.test")
    browser_login(page, live_server.url, clinician.email, PASSWORD)
    # allauth asks for the password again before changing MFA, then shows the TOTP secret.
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    expect(page.get_by_text("Staff accounts must use two-factor authentication")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
    page.screenshot(path=str(artifacts_dir / "clinician-mfa-setup.png"), full_page=True)

    # Any clinical page sends them back here until MFA is on.
    page.goto(f"{live_server.url}/")
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))

    secret = page.get_by_label("Authenticator secret").input_value()
    page.get_by_label("Authenticator code").fill(totp_now(secret))
    with page.expect_navigation():
        page.get_by_role("button", name="Activate").click()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name=re.compile("Good to see you"))).to_be_visible()


def test_clinician_with_mfa_signs_in_with_a_code(live_server, page, clinician, browser_login):
    from tests.factories import TOTP_SECRET

    browser_login(page, live_server.url, clinician.email, PASSWORD, totp_secret=TOTP_SECRET)
    expect(page.get_by_role("heading", name=re.compile("Good to see you"))).to_be_visible()


def test_every_form_field_has_a_label(live_server, page):
    for path in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
        page.goto(f"{live_server.url}{path}")
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]):not([type=submit]), select, textarea')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.name)"""
        )
        assert unlabeled == [], (path, unlabeled)


def test_idle_warning_offers_to_stay_then_signs_out(
    live_server, page, patient, browser_login, settings
):
    settings.IDLE_TIMEOUT_SECONDS = 8
    settings.IDLE_WARNING_SECONDS = 5
    browser_login(page, live_server.url, patient.email, PASSWORD)
    dialog = page.get_by_role("dialog", name="Are you still there?")
    dialog.wait_for(state="visible", timeout=10_000)
    assert page.get_by_role("button", name="Stay signed in").evaluate(
        "el => el === document.activeElement"
    )
    page.get_by_role("button", name="Stay signed in").click()
    dialog.wait_for(state="hidden", timeout=5_000)
    # Still signed in after staying.
    assert page.evaluate("fetch('/accounts/session/status/').then(r => r.status)") == 200
    # Ignore the next warning: the page goes to the login form and the session is over.
    page.wait_for_url(re.compile(r"/accounts/login/"), timeout=20_000)
    page.goto(f"{live_server.url}/crisis/")
    assert "/accounts/login/" in page.url


def test_password_reset_sends_a_link_that_works(live_server, page, patient):
    page.goto(f"{live_server.url}/accounts/password/reset/")
    page.get_by_label("Email").fill(patient.email)
    page.get_by_role("button", name="Send me the link").click()
    page.wait_for_url(re.compile(r"/accounts/password/reset/done/"))
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    # The e-mail carries no clinical detail, only the link.
    assert "PHQ" not in mail.outbox[0].body
    page.goto(link.group(0))
    page.get_by_label("New Password:", exact=True).fill("another-long-passphrase")
    page.get_by_label("New Password (again)").fill("another-long-passphrase")
    with page.expect_navigation():
        page.get_by_role("button", name="Save my new password").click()
    # The reset signs the patient in (it also clears a lockout: README, "Sign-in limits").
    page.wait_for_url(f"{live_server.url}/")
    assert "Hello, Pat" in page.content()
    patient.refresh_from_db()
    assert patient.check_password("another-long-passphrase")
