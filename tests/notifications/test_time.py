"""Time logic: rendering in the recipient's zone, DST changes, quiet hours, check-in times."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core import mail
from django.utils import timezone

from apps.notifications import dispatch, services
from apps.notifications.models import Kind, NotificationSettings, Outbox, Status
from apps.notifications.rendering import local_time_text, render
from apps.progress.reminders import checkin_due_at

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
NY = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize(
    ("utc", "zone", "expected"),
    [
        # 18:00 in Los Angeles the day before and the day after the spring-forward change.
        (dt.datetime(2026, 3, 8, 2, 0, tzinfo=dt.UTC), LA, "6:00 PM (Pacific)"),
        (dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.UTC), LA, "6:00 PM (Pacific)"),
        # ...and around the fall-back change.
        (dt.datetime(2026, 11, 1, 1, 0, tzinfo=dt.UTC), LA, "6:00 PM (Pacific)"),
        (dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC), LA, "6:00 PM (Pacific)"),
        (dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC), NY, "9:00 PM (Eastern)"),
        # Europe changes on other dates: the same UTC instant is 3 PM CET, 4 PM CEST.
        (dt.datetime(2026, 3, 27, 14, 0, tzinfo=dt.UTC), BERLIN, "3:00 PM (CET)"),
        (dt.datetime(2026, 3, 30, 14, 0, tzinfo=dt.UTC), BERLIN, "4:00 PM (CEST)"),
        (dt.datetime(2026, 6, 1, 12, 30, tzinfo=dt.UTC), KOLKATA, "6:00 PM (IST)"),
    ],
)
def test_times_show_in_the_recipients_zone_across_dst(utc, zone, expected):
    assert local_time_text(utc, zone) == expected


@pytest.mark.django_db
def test_same_session_reads_differently_for_recipients_in_two_zones(patient, outsider):
    outsider.time_zone = "America/New_York"
    outsider.save(update_fields=["time_zone"])
    payload = {"starts_at": "2026-11-24T02:00:00+00:00", "link": "/rooms/1/"}
    west = render(kind=Kind.SESSION_REMINDER, recipient=patient, payload=payload)
    east = render(kind=Kind.SESSION_REMINDER, recipient=outsider, payload=payload)
    assert west.subject == "Reminder: your group starts at 6:00 PM (Pacific)"
    assert "Monday, November 23" in west.body
    assert east.subject == "Reminder: your group starts at 9:00 PM (Eastern)"


def test_checkin_time_keeps_local_wall_clock_across_dst():
    nine = dt.time(9, 0)
    before = checkin_due_at(checkin_time=nine, zone=LA, day=dt.date(2026, 3, 7))
    after = checkin_due_at(checkin_time=nine, zone=LA, day=dt.date(2026, 3, 8))
    assert before == dt.datetime(2026, 3, 7, 17, 0, tzinfo=dt.UTC)  # PST, UTC-8
    assert after == dt.datetime(2026, 3, 8, 16, 0, tzinfo=dt.UTC)  # PDT, UTC-7
    # 02:30 does not exist on 8 March in Los Angeles: it lands at 03:30 PDT.
    gap = checkin_due_at(checkin_time=dt.time(2, 30), zone=LA, day=dt.date(2026, 3, 8))
    assert gap.astimezone(LA).time() == dt.time(3, 30)
    # 01:30 happens twice on 1 November: the first one (PDT) is used.
    twice = checkin_due_at(checkin_time=dt.time(1, 30), zone=LA, day=dt.date(2026, 11, 1))
    assert twice == dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("start", "end", "local", "quiet"),
    [
        (dt.time(21), dt.time(8), dt.time(22, 30), True),
        (dt.time(21), dt.time(8), dt.time(7, 59), True),
        (dt.time(21), dt.time(8), dt.time(8, 0), False),
        (dt.time(21), dt.time(8), dt.time(20, 59), False),
        (dt.time(13), dt.time(14), dt.time(13, 30), True),
        (dt.time(13), dt.time(14), dt.time(14, 0), False),
        (None, None, dt.time(3, 0), False),
    ],
)
def test_quiet_hours_window_including_past_midnight(start, end, local, quiet):
    row = NotificationSettings(quiet_start=start, quiet_end=end)
    assert row.in_quiet_hours(local) is quiet


def _deliver_at(now):
    claims = dispatch.outbox_claim_due(now=now)
    return [
        dispatch.outbox_deliver(outbox_id=c.outbox_id, claim_token=c.token, now=now) for c in claims
    ]


@pytest.mark.django_db
def test_email_in_quiet_hours_is_deferred_to_the_end_in_the_users_zone(patient, outsider):
    # 23:00 in Los Angeles is 02:00 in New York: both inside default quiet hours (21-08).
    outsider.time_zone = "America/New_York"
    outsider.save(update_fields=["time_zone"])
    now = dt.datetime(2026, 11, 24, 7, 0, tzinfo=dt.UTC)
    for user in (patient, outsider):
        services.notification_schedule(
            recipient=user,
            kind=Kind.HOMEWORK_ASSIGNED,
            event_key="homework.assignment:1",
            channels=["email", "in_app"],
            due_at=now,
        )
    outcomes = _deliver_at(now)
    assert sorted(outcomes) == ["deferred", "deferred", "sent", "sent"]  # in-app goes at once
    assert mail.outbox == []
    la_row = Outbox.objects.get(recipient=patient, channel="email")
    ny_row = Outbox.objects.get(recipient=outsider, channel="email")
    assert la_row.status == Status.PENDING and la_row.attempts == 0
    assert la_row.due_at == dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)  # 08:00 PST
    assert ny_row.due_at == dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)  # 08:00 EST
    assert _deliver_at(dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)) == ["sent"]
    assert mail.outbox[0].to == [outsider.email]


@pytest.mark.django_db
def test_a_reminder_that_would_arrive_after_the_session_started_is_dropped(patient):
    now = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)  # 06:00 Pacific, quiet hours
    services.notification_schedule(
        recipient=patient,
        kind=Kind.SESSION_REMINDER,
        event_key="scheduling.x:1",
        channels=["email"],
        context={"starts_at": dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)},  # 07:00
        due_at=now,
    )
    assert _deliver_at(now) == ["cancelled"]
    assert Outbox.objects.get().last_error == "quiet hours"


@pytest.mark.django_db
def test_safety_alerts_ignore_quiet_hours(patient, clinician):
    now = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)  # 02:00 Pacific
    services.safety_alert_raise(event_key="measures.safetyflag:1", patient=patient)
    Outbox.objects.update(due_at=now)
    assert sorted(_deliver_at(now)) == ["sent", "sent"]
    assert mail.outbox[0].to == [clinician.email]
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers  # not a reminder


@pytest.mark.django_db
def test_quiet_hours_follow_a_change_of_time_zone(patient):
    now = dt.datetime(2026, 11, 24, 5, 0, tzinfo=dt.UTC)  # 21:00 Pacific, 14:00 in Tokyo
    services.notification_schedule(
        recipient=patient,
        kind=Kind.HOMEWORK_ASSIGNED,
        event_key="homework.assignment:1",
        channels=["email"],
        due_at=now,
    )
    patient.time_zone = "Asia/Tokyo"
    patient.save(update_fields=["time_zone"])
    assert _deliver_at(now) == ["sent"]
    assert timezone.is_aware(Outbox.objects.get().sent_at)
