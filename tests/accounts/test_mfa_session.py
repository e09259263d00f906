"""The staff session rule (apps/accounts/mfa.py): a clinician's or admin's session counts only
once it passed MFA in this session, for pages, admin and sockets; admin's own login form never
signs anyone in."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.urls import reverse

from apps.accounts.mfa import MFA_PASSED_KEY
from conftest import totp_now
from tests.factories import PASSWORD, TOTP_SECRET, clinician_in

pytestmark = pytest.mark.django_db


def _password_only(client, user):
    """A signed-in session with no MFA step, as admin's own login form used to leave it."""
    client.force_login(user)
    assert MFA_PASSED_KEY not in client.session
    return client


def _sign_in_with_code(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": totp_now(TOTP_SECRET)})
    assert response.status_code == 302
    return client


def test_a_post_to_the_admin_login_never_signs_anyone_in(client, login, patient, admin):
    login(client, patient)  # any signed-in user, e.g. someone who just signed up
    refused = client.get("/admin/login/")
    assert refused.status_code == 403
    assert b"You can't open this page" in refused.content
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin.email, "password": PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 403
    assert client.get("/").wsgi_request.user == patient
    assert client.get("/admin/").status_code == 302


def test_an_anonymous_post_to_the_admin_login_is_sent_to_allauth(client, admin):
    response = client.post("/admin/login/", {"username": admin.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_admin_password_guesses_are_throttled_by_allauth(client, admin):
    # Admin's form reads no password, so every guess goes through allauth's limits.
    for _ in range(5):
        client.post(reverse("account_login"), {"login": admin.email, "password": "wrong-guess-1"})
    response = client.post(reverse("account_login"), {"login": admin.email, "password": PASSWORD})
    assert response.status_code in (200, 429)
    assert "mfa_authenticate" not in response.get("Location", "")
    assert b"Too many failed login attempts" in response.content


def test_admin_with_a_password_only_session_is_refused_admin(client, admin):
    _password_only(client, admin)
    response = client.get("/admin/")
    assert response.status_code == 302
    # The session was ended: the admin signs in again, code included.
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_admin_signed_in_with_the_code_reaches_admin(client, admin):
    _sign_in_with_code(client, admin)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/login/").status_code == 302  # already in: on to admin


@pytest.mark.parametrize("path", ["/", "/schedule/", "/crisis/"])
def test_clinician_with_a_password_only_session_is_signed_out(client, clinician, path):
    _password_only(client, clinician)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_clinician_signed_in_with_the_code_reaches_the_dashboard(client, clinician):
    _sign_in_with_code(client, clinician)
    assert client.get("/").status_code == 200


@pytest.mark.django_db(transaction=True)  # allauth signals the new authenticator on commit
def test_setting_up_totp_completes_the_sessions_mfa(client, program):
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, hotp_value

    clinician = clinician_in(program, mfa=False)
    client.post(reverse("account_login"), {"login": clinician.email, "password": PASSWORD})
    assert client.get("/").status_code == 302  # to the setup page
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})  # allauth asks
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]  # what the QR code shows the phone
    code = f"{hotp_value(secret, int(time.time()) // 30):06d}"
    response = client.post(reverse("mfa_activate_totp"), {"code": code})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_a_patient_needs_no_mfa_step(client, patient):
    _password_only(client, patient)
    assert client.get("/").status_code == 200


# --- sockets: the same rule, from the same place ------------------------------------------


def _communicator(client, path: str) -> WebsocketCommunicator:
    from virtualiop.asgi import application

    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
    return WebsocketCommunicator(
        application,
        path,
        headers=[(b"origin", b"http://127.0.0.1:8000"), (b"cookie", cookie.encode())],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_password_only_staff_session_cannot_open_a_room_socket(client, program, clinician):
    from tests.factories import patient_in
    from tests.rooms.factories import make_session

    member = await sync_to_async(patient_in)(program, email="m@example.test")
    session = await sync_to_async(make_session)(program, [clinician], [member])
    await sync_to_async(_password_only)(client, clinician)
    for path in (f"/ws/rooms/{session.pk}/", "/ws/me/"):
        comm = _communicator(client, path)
        connected, code = await comm.connect()
        assert not connected, path
        assert code == 4403
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_staff_session_that_passed_mfa_opens_the_room_socket(
    client, login, program, clinician
):
    from tests.factories import patient_in
    from tests.rooms.factories import make_session

    member = await sync_to_async(patient_in)(program, email="m@example.test")
    session = await sync_to_async(make_session)(program, [clinician], [member])
    await sync_to_async(login)(client, clinician)
    comm = _communicator(client, f"/ws/rooms/{session.pk}/")
    connected, _ = await comm.connect()
    assert connected
    await comm.disconnect()


def test_a_fragment_fetched_during_mfa_setup_is_refused_not_redirected(client, program):
    # Following the redirect would render the set-up page again and draw a new secret.
    from tests.factories import clinician_in

    newcomer = clinician_in(program, mfa=False, email="newcomer2@example.test")
    client.force_login(newcomer)
    response = client.get("/messages/unread/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403 and response.json()["mfa_setup_required"] is True
    assert client.get("/messages/unread/").status_code == 302
