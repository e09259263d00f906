"""Every place that announces a visit or a group leads to the platform's join page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from apps.notifications import planning
from apps.notifications.models import Kind, NotificationSettings, Outbox
from apps.scheduling.ical import calendar_for_user
from apps.scheduling.models import Appointment
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(program, clinician, patient):
    now = timezone.now()
    return Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=now + dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(minutes=60),
    )


def test_the_calendar_event_links_the_visit_and_the_group_pages(
    visit, program, clinician, patient, settings
):
    settings.SITE_URL = "https://iop.example.org"
    session = make_session(program, [clinician], [patient])
    events = {
        str(e["uid"]): e for e in Calendar.from_ical(calendar_for_user(user=patient)).walk("VEVENT")
    }
    visit_event = events[f"appointment-{visit.pk}@virtualiop"]
    assert str(visit_event["url"]) == f"https://iop.example.org/video/visit/{visit.pk}/"
    assert "Join: https://iop.example.org/video/visit/" in str(visit_event["description"])
    assert str(events[f"session-{session.pk}@virtualiop"]["url"]).endswith(f"/rooms/{session.pk}/")


def test_a_cancelled_visit_has_no_join_link(visit, patient):
    visit.status = "cancelled"
    visit.save()
    event = next(iter(Calendar.from_ical(calendar_for_user(user=patient)).walk("VEVENT")))
    assert "url" not in event


def test_the_appointment_reminder_links_the_visit_page(visit, patient):
    NotificationSettings.objects.create(user=patient, quiet_start=None, quiet_end=None)
    visit.starts_at = timezone.now() + dt.timedelta(minutes=61)  # its one-hour reminder is due
    visit.ends_at = visit.starts_at + dt.timedelta(minutes=50)
    visit.save()
    planning.plan_all(now=timezone.now())
    reminders = Outbox.objects.filter(recipient=patient, kind=Kind.APPOINTMENT_REMINDER)
    assert reminders.exists()
    for reminder in reminders:
        assert reminder.payload["link"] == f"/video/visit/{visit.pk}/"


def test_my_week_and_today_offer_the_visit_once_it_opens(visit, client, login, patient, clinician):
    page = login(client, patient).get(reverse("scheduling:my_week"))
    assert f"/video/visit/{visit.pk}/".encode() in page.content
    assert b"Join visit" in page.content
    today = login(client, clinician).get(reverse("scheduling:today"))
    assert f"/video/visit/{visit.pk}/".encode() in today.content


def test_no_join_button_long_before_the_visit(visit, client, login, patient):
    visit.starts_at = timezone.now() + dt.timedelta(hours=5)
    visit.ends_at = visit.starts_at + dt.timedelta(hours=1)
    visit.save()
    page = login(client, patient).get(reverse("scheduling:my_week"))
    assert b"Join visit" not in page.content
