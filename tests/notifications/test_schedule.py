from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Channel, Kind, Outbox, Preference, Status

pytestmark = pytest.mark.django_db


def test_schedule_creates_one_row_per_enabled_channel(patient):
    rows = services.notification_schedule(
        recipient=patient,
        kind=Kind.HOMEWORK_ASSIGNED,
        event_key="homework.assignment:5",
        context={"assignment_id": 5, "link": "/homework/5/"},
    )
    # SMS is off: the phone is not verified.
    assert sorted(r.channel for r in rows) == [Channel.EMAIL, Channel.IN_APP]
    assert all(r.status == Status.PENDING for r in rows)


def test_schedule_twice_is_idempotent_and_updates_pending(patient):
    later = timezone.now() + dt.timedelta(hours=2)
    services.notification_schedule(
        recipient=patient, kind=Kind.SESSION_CHANGED, event_key="scheduling.session:1"
    )
    services.notification_schedule(
        recipient=patient, kind=Kind.SESSION_CHANGED, event_key="scheduling.session:1", due_at=later
    )
    rows = Outbox.objects.filter(recipient=patient)
    assert rows.count() == 2
    assert all(r.due_at == later for r in rows)


def test_schedule_does_not_resend_a_sent_row(patient):
    (row, *_rest) = services.notification_schedule(
        recipient=patient, kind=Kind.SESSION_CHANGED, event_key="x.y:1", channels=["email"]
    )
    Outbox.objects.filter(pk=row.pk).update(status=Status.SENT, sent_at=timezone.now())
    services.notification_schedule(
        recipient=patient, kind=Kind.SESSION_CHANGED, event_key="x.y:1", channels=["email"]
    )
    row.refresh_from_db()
    assert row.status == Status.SENT


def test_schedule_respects_preferences(patient):
    Preference.objects.create(
        user=patient, kind=Kind.HOMEWORK_ASSIGNED, channel=Channel.EMAIL, enabled=False
    )
    rows = services.notification_schedule(
        recipient=patient, kind=Kind.HOMEWORK_ASSIGNED, event_key="homework.assignment:5"
    )
    assert [r.channel for r in rows] == [Channel.IN_APP]


def test_context_keeps_only_ids_times_links(patient):
    (row,) = services.notification_schedule(
        recipient=patient,
        kind=Kind.HOMEWORK_FEEDBACK,
        event_key="homework.assignment:5",
        context={"assignment_id": 5, "feedback_text": "secret clinical text"},
        channels=[Channel.IN_APP],
    )
    assert row.payload == {"assignment_id": 5}


def test_rolled_back_caller_leaves_no_rows(patient):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.notification_schedule(
            recipient=patient, kind=Kind.HOMEWORK_ASSIGNED, event_key="homework.assignment:9"
        )
        raise RuntimeError
    assert not Outbox.objects.exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "nonsense", "event_key": "a:1"},
        {"kind": Kind.GENERAL, "event_key": ""},
        {"kind": Kind.GENERAL, "event_key": "has space"},
        {"kind": Kind.GENERAL, "event_key": "a:1", "channels": ["pigeon"]},
        {"kind": Kind.GENERAL, "event_key": "a:1", "due_at": dt.datetime(2030, 1, 1)},
        {"kind": Kind.GENERAL, "event_key": "a:1", "context": {"link": object()}},
    ],
)
def test_bad_input_raises_and_writes_nothing(patient, kwargs):
    with pytest.raises(services.NotificationError):
        services.notification_schedule(recipient=patient, **kwargs)
    assert not Outbox.objects.exists()


def test_cancel_matches_event_and_sub_keys_only(patient):
    for key in ("scheduling.session:4", "scheduling.session:4@t/60m", "scheduling.session:42"):
        services.notification_schedule(
            recipient=patient, kind=Kind.SESSION_REMINDER, event_key=key, channels=["in_app"]
        )
    assert services.notifications_cancel(event_key="scheduling.session:4") == 2
    assert Outbox.objects.get(event_key="scheduling.session:42").status == Status.PENDING


def test_safety_alert_goes_to_primary_and_escalates_to_on_call(patient, clinician, program):
    from tests.factories import clinician_in

    on_call = clinician_in(program, email="oncall@example.test")
    program.staff.filter(user=on_call).update(on_call=True)
    # Even a clinician who switched safety e-mail off still gets it.
    Preference.objects.create(
        user=clinician, kind=Kind.SAFETY_ALERT, channel=Channel.EMAIL, enabled=False
    )
    services.safety_alert_raise(event_key="measures.safetyflag:3", patient=patient)
    alerts = Outbox.objects.filter(kind=Kind.SAFETY_ALERT)
    assert {(r.recipient_id, r.channel) for r in alerts} == {
        (clinician.pk, "email"),
        (clinician.pk, "in_app"),
    }
    escalation = Outbox.objects.filter(kind=Kind.SAFETY_ESCALATION)
    assert {r.recipient_id for r in escalation} == {on_call.pk}
    assert all(r.due_at > timezone.now() + dt.timedelta(minutes=29) for r in escalation)
    assert services.safety_alert_acknowledge(event_key="measures.safetyflag:3") == 2
    assert set(escalation.values_list("status", flat=True)) == {Status.CANCELLED}
