"""The sign-in and account pages a person meets (issue 29, item 19): the site's layout and
plain words instead of allauth's stock text, a large "Forgot your password?" target, and
help in a crisis without a password (item 21)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

STOCK = (
    "If you have not created an account yet",
    "Already have an account? Then please",
    "Forgotten your password?",
    "Two-Factor Authentication",
    "Are you sure you want to sign out?",
    "finalize the signup process",
)


def _page(response) -> str:
    assert response.status_code == 200
    body = response.content.decode()
    for text in STOCK:
        assert text not in body
    assert 'class="skip-link"' in body  # the site's base.html
    return body


def test_login_page_speaks_plainly_and_offers_crisis_lines(client, settings):
    settings.CLINIC_PHONE = "(555) 010-0199"
    body = _page(client.get(reverse("account_login")))
    assert "<h1>Sign in</h1>" in body
    assert f'<a class="target" href="{reverse("account_reset_password")}">' in body
    assert "id_password_helptext" not in body  # no reference to a missing help text
    assert 'name="login"' in body and 'name="password"' in body
    assert 'href="tel:988"' in body and 'href="tel:(555) 010-0199"' in body
    assert f'href="{reverse("crisis_saved")}"' in body  # shown when a copy is on the device


def test_login_errors_are_shown_and_sign_in_still_works(client, patient):
    body = _page(client.post(reverse("account_login"), {"login": patient.email, "password": "x"}))
    assert 'role="alert"' in body
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "name,heading",
    [
        ("account_signup", "Create your account"),
        ("account_reset_password", "Reset your password"),
        ("account_reset_password_done", "Check your e-mail"),
        ("account_email_verification_sent", "Confirm your e-mail"),
    ],
)
def test_account_pages_use_the_sites_words(client, name, heading):
    body = _page(client.get(reverse(name)))
    assert f"<h1>{heading}</h1>" in body
    if name in ("account_signup", "account_reset_password"):
        assert 'name="email"' in body


def test_bad_password_reset_link_says_so_plainly(client):
    url = reverse("account_reset_password_from_key", kwargs={"uidb36": "zz", "key": "bad-key"})
    body = _page(client.get(url, follow=True))
    assert "This link no longer works" in body


def test_sign_out_page_is_plain_and_forgets_the_saved_plan(client, login, patient):
    login(client, patient)
    body = _page(client.get(reverse("account_logout")))
    assert "Sign out of your account on this device?" in body
    assert "data-signout" in body


def test_code_step_is_plain(client, clinician):
    client.post(reverse("account_login"), {"login": clinician.email, "password": PASSWORD})
    body = _page(client.get(reverse("mfa_authenticate")))
    assert "<h1>Enter your code</h1>" in body
    assert 'id="logout-from-stage" method="post"' in body
