from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from apps.accounts.models import LoginAttempt, Role, User
from apps.audit.models import AuditEvent
from tests.factories import PASSWORD, TOTP_SECRET, UserFactory, clinician_in

pytestmark = pytest.mark.django_db


def test_login_is_by_email_and_lands_on_the_patient_dashboard(client, patient):
    response = client.post(
        reverse("account_login"), {"login": patient.email, "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert response.wsgi_request.user == patient
    assert b"Hello, Pat" in response.content
    assert AuditEvent.objects.filter(actor=patient, action="login").exists()


def test_wrong_password_is_refused_and_recorded_for_admins(client, patient):
    response = client.post(
        reverse("account_login"), {"login": patient.email, "password": "nope-nope-nope"}
    )
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    attempt = LoginAttempt.objects.get()
    assert attempt.email == patient.email
    assert attempt.ip == "127.0.0.1"


def test_repeated_failed_logins_are_rate_limited(client, patient):
    for _ in range(5):
        client.post(
            reverse("account_login"), {"login": patient.email, "password": "wrong-password-x"}
        )
    # The right password no longer works for this account until the window passes.
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert not response.wsgi_request.user.is_authenticated
    assert response.status_code in (200, 429)


def test_signup_creates_a_patient_and_requires_email_verification(client):
    response = client.post(
        reverse("account_signup"),
        {
            "full_name": "New Person",
            "preferred_name": "Newt",
            "email": "new.person@example.test",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.test")
    assert user.role == Role.PATIENT
    assert user.full_name == "New Person"
    assert hasattr(user, "patient_profile")
    assert len(mail.outbox) == 1
    assert "new.person@example.test" in mail.outbox[0].to
    # Not verified yet: the dashboard is not reachable.
    assert not client.get(reverse("home")).wsgi_request.user.is_authenticated


def test_signup_cannot_choose_a_staff_role(client):
    client.post(
        reverse("account_signup"),
        {
            "full_name": "Sneaky",
            "email": "sneaky@example.test",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
            "role": "admin",
        },
    )
    assert User.objects.get(email="sneaky@example.test").role == Role.PATIENT


def test_weak_password_is_refused(client):
    response = client.post(
        reverse("account_signup"),
        {
            "full_name": "Weak",
            "email": "weak@example.test",
            "password1": "password",
            "password2": "password",
        },
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="weak@example.test").exists()


def test_passwords_are_hashed_with_argon2_in_production_settings(settings):
    assert "django.contrib.auth.hashers.Argon2PasswordHasher" in settings.PASSWORD_HASHERS


@pytest.mark.parametrize("path", ["/", "/crisis/", "/accounts/profile/"])
def test_clinician_without_mfa_is_sent_to_mfa_setup(client, login, program, path):
    clinician = clinician_in(program, mfa=False)
    login(client, clinician)
    response = client.get(path)
    assert response.status_code == 302 if path != "/accounts/profile/" else 200
    if path != "/accounts/profile/":
        assert response["Location"] == reverse("mfa_activate_totp")


def test_admin_without_mfa_is_sent_to_mfa_setup(client, login):
    admin = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    login(client, admin)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_clinician_with_mfa_reaches_the_dashboard(client, login, clinician):
    login(client, clinician)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Good to see you" in response.content


def test_patient_is_not_asked_for_mfa(client, login, patient):
    login(client, patient)
    assert client.get("/").status_code == 200


def test_staff_login_asks_for_the_totp_code(client, clinician):
    from conftest import totp_now

    response = client.post(
        reverse("account_login"), {"login": clinician.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert not client.get("/").wsgi_request.user.is_authenticated
    response = client.post(reverse("mfa_authenticate"), {"code": totp_now(TOTP_SECRET)})
    assert response.status_code == 302
    assert client.get("/").wsgi_request.user == clinician


def test_admin_site_is_only_for_role_admin_with_mfa(client, login, admin, clinician, patient):
    login(client, admin)
    assert client.get("/admin/").status_code == 200
    client.logout()
    for user in (clinician, patient):
        login(client, user)
        response = client.get("/admin/")
        assert response.status_code == 302, user
        client.logout()


def test_admin_site_refuses_a_superuser_clinician(client, login, program):
    clinician = clinician_in(program, is_staff=True, is_superuser=True)
    login(client, clinician)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302


def test_anonymous_admin_goes_through_the_allauth_login(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    assert b"<h1>Sign in</h1>" in response.content


def test_profile_update_validates_phone_and_time_zone(client, login, patient):
    login(client, patient)
    bad = client.post(
        reverse("accounts:profile"),
        {"full_name": "Pat Member", "phone": "not a phone", "time_zone": "Mars/Olympus"},
    )
    assert bad.status_code == 200
    patient.refresh_from_db()
    assert str(patient.time_zone) == "America/Los_Angeles"
    good = client.post(
        reverse("accounts:profile"),
        {
            "full_name": "Pat Member",
            "preferred_name": "Pat",
            "phone": "+1 415 555 0100",
            "time_zone": "America/New_York",
        },
    )
    assert good.status_code == 302
    patient.refresh_from_db()
    assert str(patient.time_zone) == "America/New_York"
    assert patient.phone.as_e164 == "+14155550100"


def test_no_cookie_carries_the_users_name_after_sign_in(client, patient):
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert response.status_code == 302
    for cookie in response.cookies.values():
        assert "Pat" not in cookie.value and "Member" not in cookie.value, cookie.key
    assert "messages" not in response.cookies
    # The message is still shown, once, from the session.
    assert b"Successfully signed in" in client.get("/").content
