from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.notifications import services, sms
from apps.notifications.models import Channel, Kind, Notification, NotificationSettings, Preference
from apps.notifications.unsubscribe import unsubscribe_token

pytestmark = pytest.mark.django_db


def _note(user, n=0, **kw):
    return Notification.objects.create(
        recipient=user, kind=Kind.GENERAL, title=f"Note {n}", body="b", link="/", **kw
    )


def test_anonymous_is_sent_to_login(client):
    for name in ("notifications:list", "notifications:preferences", "notifications:unread"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(reverse("notifications:read", args=[1]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_list_shows_only_my_notifications_in_a_fixed_number_of_queries(
    client, login, patient, outsider, django_assert_num_queries
):
    for n in range(3):
        _note(patient, n)
    _note(outsider, 99)
    login(client, patient)
    client.get(reverse("notifications:list"))  # warm caches (session, nav)
    baseline = _count_queries(client)
    for n in range(3, 10):
        _note(patient, n)
    with django_assert_num_queries(baseline):
        response = client.get(reverse("notifications:list"))
    body = response.content.decode()
    assert "Note 9" in body and "Note 0" in body
    assert "Note 99" not in body


def _count_queries(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("notifications:list"))
    return len(ctx.captured_queries)


def test_bell_shows_unread_count_on_every_page(client, login, patient):
    _note(patient, 1)
    _note(patient, 2)
    login(client, patient)
    body = client.get(reverse("home")).content.decode()
    assert re.search(r'id="notif-count-n">2<', body)
    assert 'aria-live="polite"' in body and "js/notifications.js" in body


@pytest.mark.parametrize("intruder", ["outsider", "other_clinician", "clinician", "admin"])
def test_nobody_else_can_mark_my_notification_read(client, login, patient, intruder, request):
    note = _note(patient)
    login(client, request.getfixturevalue(intruder))
    response = client.post(reverse("notifications:read", args=[note.pk]))
    assert response.status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_mark_read_and_open_redirects_to_the_link(client, login, patient):
    note = _note(patient)
    Notification.objects.filter(pk=note.pk).update(link="/homework/a/3/")
    login(client, patient)
    response = client.post(reverse("notifications:read", args=[note.pk]), {"open": "1"})
    assert response.status_code == 302 and response["Location"] == "/homework/a/3/"
    note.refresh_from_db()
    assert note.read_at is not None
    assert client.get(reverse("notifications:unread")).json() == {"unread": 0}


def test_mark_read_over_htmx_swaps_in_the_item_shown_read(client, login, patient):
    note = _note(patient)
    login(client, patient)
    response = client.post(reverse("notifications:read", args=[note.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and f'id="notif-{note.pk}"' in body
    assert "unread" not in body and "Mark as read" not in body


def test_open_never_redirects_off_site(client, login, patient):
    note = _note(patient)
    Notification.objects.filter(pk=note.pk).update(link="https://evil.example/")
    login(client, patient)
    response = client.post(reverse("notifications:read", args=[note.pk]), {"open": "1"})
    assert response["Location"] == reverse("notifications:list")


def test_mark_all_read_touches_only_mine(client, login, patient, outsider):
    _note(patient)
    theirs = _note(outsider)
    login(client, patient)
    client.post(reverse("notifications:read_all"))
    assert not Notification.objects.filter(recipient=patient, read_at=None).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_endpoints_refuse_get(client, login, patient):
    note = _note(patient)
    login(client, patient)
    assert client.get(reverse("notifications:read", args=[note.pk])).status_code == 405
    assert client.get(reverse("notifications:read_all")).status_code == 405


def test_patient_saves_preferences_quiet_hours_leads_and_checkin(client, login, patient):
    login(client, patient)
    page = client.get(reverse("notifications:preferences"))
    assert page.status_code == 200
    assert "Safety alert" not in page.content.decode()  # clinician kinds are not offered
    response = client.post(
        reverse("notifications:preferences"),
        {
            f"pref__{Kind.SESSION_REMINDER}__email": "on",
            f"pref__{Kind.SESSION_REMINDER}__in_app": "on",
            "quiet_enabled": "on",
            "quiet_start": "22:00",
            "quiet_end": "07:30",
            "reminder_leads": ["120", "30"],
            "checkin_time": "09:15",
        },
    )
    assert response.status_code == 302
    settings_row = NotificationSettings.objects.get(user=patient)
    assert str(settings_row.quiet_start) == "22:00:00" and str(settings_row.quiet_end) == "07:30:00"
    assert settings_row.reminder_leads_minutes == [120, 30]
    assert str(settings_row.checkin_time) == "09:15:00"
    assert (
        Preference.objects.get(
            user=patient, kind=Kind.HOMEWORK_ASSIGNED, channel=Channel.EMAIL
        ).enabled
        is False
    )


@pytest.mark.parametrize(
    "data",
    [
        {"quiet_enabled": "on", "quiet_start": "22:00"},
        {"quiet_enabled": "on", "quiet_start": "22:00", "quiet_end": "22:00"},
        {"quiet_start": "25:99"},
        {"reminder_leads": ["7"]},
        {"checkin_time": "noon"},
    ],
)
def test_bad_preference_input_is_refused_and_changes_nothing(client, login, patient, data):
    login(client, patient)
    response = client.post(reverse("notifications:preferences"), data)
    assert response.status_code == 400
    assert not NotificationSettings.objects.filter(user=patient).exists()
    assert not Preference.objects.filter(user=patient).exists()


def test_clinician_cannot_switch_off_safety_alert_email(client, login, clinician):
    login(client, clinician)
    response = client.post(
        reverse("notifications:preferences"), {f"pref__{Kind.NO_SHOW}__in_app": "on"}
    )
    assert response.status_code == 302
    assert not Preference.objects.filter(
        user=clinician, kind=Kind.SAFETY_ALERT, channel__in=["email", "in_app"]
    ).exists()
    assert (
        Preference.objects.get(user=clinician, kind=Kind.NO_SHOW, channel="email").enabled is False
    )
    rows = services.safety_alert_raise(
        event_key="measures.safetyflag:1", patient=_patient_of(clinician)
    )
    assert {r.channel for r in rows} == {"email", "in_app"}


def _patient_of(clinician):
    from tests.factories import patient_in

    user = patient_in(clinician.programs.first(), email="p2@example.test")
    user.patient_profile.primary_clinician = clinician
    user.patient_profile.save(update_fields=["primary_clinician"])
    return user


def test_phone_verification_flow(client, login, patient, django_capture_on_commit_callbacks):
    login(client, patient)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("notifications:phone"), {"action": "send", "phone": "(415) 555-0100"})
    (text,) = sms.outbox
    assert text.to == "+14155550100"
    code = re.search(r"(\d{6})", text.body).group(1)
    wrong = "000000" if code != "000000" else "111111"
    client.post(reverse("notifications:phone"), {"action": "confirm", "code": wrong})
    assert not NotificationSettings.objects.get(user=patient).phone_verified
    client.post(reverse("notifications:phone"), {"action": "confirm", "code": code})
    row = NotificationSettings.objects.get(user=patient)
    assert row.phone_verified and row.sms_phone == "+14155550100"
    # Reusing the code does nothing more; removing the number turns SMS off.
    client.post(reverse("notifications:phone"), {"action": "remove"})
    assert not NotificationSettings.objects.get(user=patient).phone_verified


def test_phone_verification_locks_after_five_wrong_codes(client, login, patient):
    login(client, patient)
    client.post(reverse("notifications:phone"), {"action": "send", "phone": "4155550100"})
    row = NotificationSettings.objects.get(user=patient)
    for _ in range(5):
        services.phone_verification_confirm(user=patient, code="999999")
    row.refresh_from_db()
    assert row.verification_attempts == 5
    # Even the right code cannot be found by guessing now: every attempt is refused.
    assert all(
        not services.phone_verification_confirm(user=patient, code=f"{n:06d}") for n in range(3)
    )


@pytest.mark.parametrize("phone", ["", "not a phone", "123"])
def test_bad_phone_numbers_are_refused(client, login, patient, phone):
    login(client, patient)
    response = client.post(
        reverse("notifications:phone"), {"action": "send", "phone": phone}, follow=True
    )
    assert response.status_code == 200
    assert sms.outbox == []
    assert not NotificationSettings.objects.filter(
        user=patient, verification_sent_at__isnull=False
    ).exists()


def test_one_click_unsubscribe_turns_off_that_reminder_email_only(client, patient):
    token = unsubscribe_token(user=patient, kind=Kind.SESSION_REMINDER)
    url = reverse("notifications:unsubscribe", args=[token])
    assert client.get(url).status_code == 200  # a GET (link scanners) changes nothing
    assert not Preference.objects.exists()
    # RFC 8058 one-click: the mail client POSTs without a session or CSRF token.
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    pref = Preference.objects.get(user=patient)
    assert (pref.kind, pref.channel, pref.enabled) == (Kind.SESSION_REMINDER, "email", False)


def test_unsubscribe_token_cannot_be_forged_or_used_for_safety_alerts(client, clinician):
    from django.core import signing

    from apps.notifications.unsubscribe import SALT

    forged = signing.dumps({"u": clinician.pk, "k": Kind.SAFETY_ALERT}, salt=SALT, compress=True)
    tampered = unsubscribe_token(user=clinician, kind=Kind.SESSION_REMINDER)[:-2] + "xx"
    for token in (forged, tampered, "garbage"):
        response = client.post(reverse("notifications:unsubscribe", args=[token]))
        assert response.status_code == 404
    assert not Preference.objects.exists()


def test_bell_poll_returns_only_my_newer_notifications(client, login, patient, outsider):
    old = _note(patient, 1)
    new = _note(patient, 2)
    _note(outsider, 3)
    login(client, patient)
    data = client.get(reverse("notifications:unread"), {"after": old.pk}).json()
    assert data["unread"] == 2
    assert [item["id"] for item in data["items"]] == [new.pk]
    assert data["items"][0]["title"] == "Note 2"
    for bad in ("abc", "-1", "9" * 40):
        response = client.get(reverse("notifications:unread"), {"after": bad})
        assert response.status_code == 400


def test_bell_polls_only_where_the_channel_layer_is_in_process(client, login, patient, settings):
    login(client, patient)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert 'data-poll-seconds="10"' in client.get(reverse("home")).content.decode()
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}}
    }
    assert 'data-poll-seconds="0"' in client.get(reverse("home")).content.decode()


def test_bell_shows_unread_count_and_latest_id_in_one_query(client, login, patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.notifications.models import Notification

    notes = [
        Notification.objects.create(recipient=patient, kind="general", title=f"n{i}")
        for i in range(3)
    ]
    notes[0].read_at = notes[0].created_at
    notes[0].save(update_fields=["read_at"])
    login(client, patient)
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/").content.decode()
    assert f'data-latest-id="{notes[-1].pk}"' in body
    assert '<span id="notif-count-n">2</span>' in body
    bell_queries = [q for q in ctx.captured_queries if "notifications_notification" in q["sql"]]
    assert len(bell_queries) == 1


def test_the_bells_count_and_latest_id_are_the_users_own(patient, outsider):
    from apps.notifications.selectors import bell_state

    assert bell_state(user=patient) == (0, 0)
    first, second = _note(patient, 1), _note(patient, 2)
    theirs = _note(outsider, 3)
    Notification.objects.filter(pk=second.pk).update(read_at=timezone.now())
    assert bell_state(user=patient) == (1, max(first.pk, second.pk))
    assert bell_state(user=outsider) == (1, theirs.pk)
