"""iCalendar feeds: parsed back, cancellations, no clinical detail, token rotation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from apps.scheduling import services
from apps.scheduling.models import CalendarFeed, Session
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_group(program, clinician, patient):
    group = make_group(program, [clinician], days=range(7), name="Evening Process Group")
    services.membership_add(group=group, patient=patient, by=clinician)
    return group


def _parse(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def test_patient_feed_parses_with_sessions_and_cancellation(
    client, member_group, patient, clinician
):
    sessions = list(Session.objects.filter(group=member_group, starts_at__gt=timezone.now())[:3])
    services.session_cancel(session=sessions[1], by=clinician, reason="Holiday")
    feed = services.calendar_feed_rotate(user=patient)

    cal = _parse(client.get(reverse("scheduling:feed", args=[feed.token])))

    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    cancelled = events[f"session-{sessions[1].pk}@virtualiop"]
    assert str(cancelled["status"]) == "CANCELLED"
    first = events[f"session-{sessions[0].pk}@virtualiop"]
    assert str(first["status"]) == "CONFIRMED"
    assert str(first["summary"]) == "Evening Process Group"
    assert first.decoded("dtstart") == sessions[0].starts_at
    assert first.decoded("dtend") == sessions[0].ends_at
    assert first.decoded("dtstart").tzinfo is not None


def test_feed_has_no_names_emails_or_topics(client, member_group, patient, clinician, program):
    session = Session.objects.filter(group=member_group, starts_at__gt=timezone.now()).first()
    services.session_update(session=session, by=clinician, topic="Grief after overdose")
    day = timezone.localdate() + dt.timedelta(days=2)
    services.availability_set(
        clinician=clinician, by=clinician, windows=[(d, dt.time(6), dt.time(23)) for d in range(7)]
    )
    services.appointment_book(
        clinician=clinician,
        patient=patient,
        kind="medication",
        starts_at=dt.datetime.combine(day, dt.time(7), tzinfo=clinician.time_zone),
        ends_at=dt.datetime.combine(day, dt.time(7, 50), tzinfo=clinician.time_zone),
        by=clinician,
    )
    for user in (patient, clinician):
        feed = services.calendar_feed_rotate(user=user)
        body = client.get(reverse("scheduling:feed", args=[feed.token])).content.decode()
        for secret in ("Pat", "Member", "Carla", "example.test", "Grief", "edication"):
            assert secret not in body, (user, secret)
        assert "Appointment" in body
    # The feed URL itself carries only the random token.
    assert "@" not in reverse("scheduling:feed", args=[feed.token])


def test_rotation_invalidates_old_url_and_revoke_turns_off(client, member_group, patient):
    old = services.calendar_feed_rotate(user=patient).token
    assert client.get(reverse("scheduling:feed", args=[old])).status_code == 200
    new = services.calendar_feed_rotate(user=patient).token
    assert new != old and len(new) >= 40
    assert client.get(reverse("scheduling:feed", args=[old])).status_code == 404
    assert client.get(reverse("scheduling:feed", args=[new])).status_code == 200
    services.calendar_feed_revoke(user=patient)
    assert client.get(reverse("scheduling:feed", args=[new])).status_code == 404
    assert not CalendarFeed.objects.exists()


def test_unknown_token_is_404(client):
    assert client.get(reverse("scheduling:feed", args=["nope"])).status_code == 404
    assert client.get("/schedule/feed/" + "x" * 300 + ".ics").status_code == 404


def test_calendar_settings_page_rotates(client, login, patient):
    login(client, patient)
    assert client.get(reverse("scheduling:calendar")).status_code == 200
    client.post(reverse("scheduling:calendar"), {"action": "rotate"})
    token = CalendarFeed.objects.get(user=patient).token
    page = client.get(reverse("scheduling:calendar")).content.decode()
    assert token in page
    client.post(reverse("scheduling:calendar"), {"action": "rotate"})
    assert CalendarFeed.objects.get(user=patient).token != token
    assert client.post(reverse("scheduling:calendar"), {"action": "zap"}).status_code == 400
