"""Reminders planned before a preference or phone change follow the change: turning SMS on
adds an SMS for each pending reminder; turning a channel off drops its pending rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Kind, NotificationSettings, Outbox, Status

pytestmark = pytest.mark.django_db


def plan_reminder(patient) -> dt.datetime:
    due = timezone.now() + dt.timedelta(hours=20)
    services.notification_schedule(
        recipient=patient,
        kind=Kind.SESSION_REMINDER,
        event_key="scheduling.session:7@20261206T1800Z/1440m",
        context={"session_id": 7, "starts_at": due + dt.timedelta(days=1), "link": "/rooms/7/"},
        due_at=due,
    )
    return due


def channels(patient, status=Status.PENDING) -> set[str]:
    return set(
        Outbox.objects.filter(
            recipient=patient, kind=Kind.SESSION_REMINDER, status=status
        ).values_list("channel", flat=True)
    )


def verify_phone(patient) -> None:
    NotificationSettings.objects.update_or_create(
        user=patient, defaults={"sms_phone": "+14155550100", "phone_verified_at": timezone.now()}
    )


def test_turning_sms_on_adds_it_to_reminders_already_planned(patient):
    due = plan_reminder(patient)
    assert "sms" not in channels(patient)
    verify_phone(patient)
    services.preferences_update(user=patient, choices={(Kind.SESSION_REMINDER, "sms"): True})
    assert "sms" in channels(patient)
    sms = Outbox.objects.get(recipient=patient, channel="sms")
    email = Outbox.objects.get(recipient=patient, channel="email")
    assert sms.due_at == due and sms.payload == email.payload
    # Changing nothing more adds nothing (dedupe), and the phone's removal drops the SMS.
    services.notifications_replan(user=patient)
    assert Outbox.objects.filter(recipient=patient, channel="sms").count() == 1
    services.phone_remove(user=patient)
    assert "sms" not in channels(patient) and "sms" in channels(patient, Status.CANCELLED)


def test_turning_a_channel_off_drops_its_pending_reminders(patient):
    plan_reminder(patient)
    assert "email" in channels(patient)
    services.preferences_update(user=patient, choices={(Kind.SESSION_REMINDER, "email"): False})
    assert "email" not in channels(patient)
    assert "in_app" in channels(patient)


def test_a_verified_phone_brings_sms_to_planned_reminders_when_sms_was_already_chosen(patient):
    services.preferences_update(user=patient, choices={(Kind.SESSION_REMINDER, "sms"): True})
    plan_reminder(patient)
    assert "sms" not in channels(patient)  # no verified phone yet
    row, _ = NotificationSettings.objects.get_or_create(user=patient)
    row.verification_phone = "+14155550100"
    row.verification_code_hash = services._code_hash(patient, "+14155550100", "123456")
    row.verification_sent_at = timezone.now()
    row.save()
    assert services.phone_verification_confirm(user=patient, code="123456")
    assert "sms" in channels(patient)
