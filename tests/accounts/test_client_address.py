"""Behind nginx every request comes from 127.0.0.1: the client address is read from the one
proxy hop we trust (TRUSTED_PROXY_COUNT), for allauth's limits, failed-login records and
audit alike, and a client cannot choose it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import LoginAttempt
from apps.core.requestcontext import client_ip
from conftest import totp_now
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.9"
CLINIC_WIFI = "198.51.100.20"


@pytest.fixture(autouse=True)
def _behind_nginx(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1


def _via_nginx(address: str, sent_by_client: str = "") -> dict[str, str]:
    """Headers as nginx passes them on: $proxy_add_x_forwarded_for, X-Real-IP."""
    chain = f"{sent_by_client}, {address}" if sent_by_client else address
    return {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": chain, "HTTP_X_REAL_IP": address}


def _login(client, email: str, password: str, address: str):
    return client.post(
        reverse("account_login"), {"login": email, "password": password}, **_via_nginx(address)
    )


def test_failed_logins_from_one_address_do_not_lock_out_another(client, patient, clinician):
    for n in range(12):  # made-up e-mails: only the per-address limit can stop these
        _login(client, f"nobody{n}@example.test", "wrong-password-x", ATTACKER)
    blocked = _login(client, patient.email, PASSWORD, ATTACKER)
    assert not blocked.wsgi_request.user.is_authenticated
    assert b"Too many failed login attempts" in blocked.content

    assert _login(client, patient.email, PASSWORD, CLINIC_WIFI).status_code == 302
    assert client.get("/").wsgi_request.user == patient
    client.logout()
    response = _login(client, clinician.email, PASSWORD, CLINIC_WIFI)
    assert response["Location"] == reverse("mfa_authenticate")


def test_a_client_cannot_choose_its_address_by_sending_the_header(client, patient):
    for n in range(12):
        client.post(
            reverse("account_login"),
            {"login": f"nobody{n}@example.test", "password": "wrong-password-x"},
            **_via_nginx(ATTACKER, sent_by_client=f"10.0.0.{n}"),
        )
    # The same attacker, claiming yet another address: still the address nginx saw.
    response = client.post(
        reverse("account_login"),
        {"login": patient.email, "password": PASSWORD},
        **_via_nginx(ATTACKER, sent_by_client=CLINIC_WIFI),
    )
    assert not response.wsgi_request.user.is_authenticated
    assert set(LoginAttempt.objects.values_list("ip", flat=True)) == {ATTACKER}


def test_failed_logins_are_recorded_with_the_real_address(client, patient):
    _login(client, patient.email, "wrong-password-x", ATTACKER)
    assert LoginAttempt.objects.get().ip == ATTACKER


def test_without_a_proxy_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": ATTACKER}) == (
        "192.0.2.1"
    )
    assert client_ip({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_REAL_IP": ATTACKER}) == "192.0.2.1"


def test_an_account_locked_by_guesses_is_opened_by_a_password_reset(client, clinician, mailoutbox):
    """An attacker who knows a clinician's e-mail can lock the account for five minutes at a
    time, but not keep them out: the reset link clears the lock and signs them in, with
    the code step still asked."""
    for _ in range(5):
        _login(client, clinician.email, "wrong-password-x", ATTACKER)
    locked = _login(client, clinician.email, PASSWORD, CLINIC_WIFI)
    assert b"Too many failed login attempts" in locked.content

    client.post(
        reverse("account_reset_password"), {"email": clinician.email}, **_via_nginx(CLINIC_WIFI)
    )
    link = next(
        line for line in mailoutbox[-1].body.splitlines() if "/accounts/password/reset/key/" in line
    ).strip()
    path = link[link.index("/accounts/") :]
    form = client.get(path, follow=True, **_via_nginx(CLINIC_WIFI))
    new_password = "a-new-long-passphrase-42"
    response = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else path,
        {"password1": new_password, "password2": new_password},
        **_via_nginx(CLINIC_WIFI),
    )
    assert response["Location"] == reverse("mfa_authenticate")
    client.post(
        reverse("mfa_authenticate"), {"code": totp_now(TOTP_SECRET)}, **_via_nginx(CLINIC_WIFI)
    )
    assert client.get("/", **_via_nginx(CLINIC_WIFI)).wsgi_request.user == clinician
    # And signing in with the new password works too, from where the attacker is not.
    client.logout()
    assert _login(client, clinician.email, new_password, CLINIC_WIFI)["Location"] == reverse(
        "mfa_authenticate"
    )
