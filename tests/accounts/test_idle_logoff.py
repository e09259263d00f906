from __future__ import annotations

import time

import pytest
from django.urls import reverse

from apps.core.sessions import LAST_SEEN_KEY

pytestmark = pytest.mark.django_db


def _age_session(client, seconds: float) -> None:
    session = client.session
    session[LAST_SEEN_KEY] = time.time() - seconds
    session.save()


def test_active_user_stays_signed_in(client, login, patient, settings):
    login(client, patient)
    client.get("/")
    _age_session(client, settings.IDLE_TIMEOUT_SECONDS - 30)
    response = client.get("/")
    assert response.status_code == 200
    assert response.wsgi_request.user == patient


def test_idle_session_is_signed_out_and_sent_to_login(client, login, patient, settings):
    login(client, patient)
    client.get("/")
    _age_session(client, settings.IDLE_TIMEOUT_SECONDS + 1)
    response = client.get("/crisis/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    # The session is gone for good, not just for this request.
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_status_poll_does_not_count_as_activity(client, login, patient, settings):
    login(client, patient)
    client.get("/")
    _age_session(client, settings.IDLE_TIMEOUT_SECONDS - 50)
    body = client.get(reverse("accounts:session_status")).json()
    assert body["authenticated"] is True
    assert 0 < body["remaining"] <= 50
    # Polling again still counts down rather than resetting the clock.
    assert client.get(reverse("accounts:session_status")).json()["remaining"] <= 50


def test_stay_signed_in_resets_the_idle_clock(client, login, patient, settings):
    login(client, patient)
    client.get("/")
    _age_session(client, settings.IDLE_TIMEOUT_SECONDS - 20)
    response = client.post(reverse("accounts:session_keepalive"))
    assert response.status_code == 200
    body = client.get(reverse("accounts:session_status")).json()
    assert body["remaining"] > settings.IDLE_TIMEOUT_SECONDS - 5


def test_status_after_idle_expiry_says_signed_out(client, login, patient, settings):
    login(client, patient)
    client.get("/")
    _age_session(client, settings.IDLE_TIMEOUT_SECONDS + 5)
    response = client.get(reverse("accounts:session_status"))
    assert response.status_code == 401
    assert response.json() == {"authenticated": False, "remaining": 0}


def test_keepalive_needs_a_signed_in_user(client):
    assert client.post(reverse("accounts:session_keepalive")).status_code == 401


def test_pages_carry_the_idle_timeout_for_the_warning_dialog(client, login, patient, settings):
    login(client, patient)
    content = client.get("/").content.decode()
    assert f'data-idle-timeout="{settings.IDLE_TIMEOUT_SECONDS}"' in content
    assert 'id="idle-dialog"' in content


def test_background_requests_marked_passive_do_not_keep_the_session_alive(
    client, login, patient, settings
):
    login(client, patient)
    client.get("/")
    _age_session(client, settings.IDLE_TIMEOUT_SECONDS - 40)
    client.get("/", headers={"X-Idle-Passive": "1"})
    remaining = client.get(reverse("accounts:session_status")).json()["remaining"]
    assert remaining <= 40
    _age_session(client, settings.IDLE_TIMEOUT_SECONDS + 1)
    response = client.get("/", headers={"X-Idle-Passive": "1"})
    assert response.status_code == 401
    assert not client.get("/").wsgi_request.user.is_authenticated
