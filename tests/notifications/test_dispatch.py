from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core import mail
from django.db import connection
from django.utils import timezone

from apps.core.events import user_group
from apps.notifications import dispatch, services, sms
from apps.notifications.models import (
    Channel,
    Kind,
    Notification,
    NotificationSettings,
    Outbox,
    Preference,
    Status,
)
from tests.notifications.backends import FailingEmailBackend
from tests.notifications.helpers import no_quiet_hours

pytestmark = pytest.mark.django_db

SIX_PM_PACIFIC = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)  # Mon 23 Nov, 18:00 PST
NOON_PACIFIC = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)


def _schedule(user, *, kind=Kind.SESSION_REMINDER, channels=("email",), key="scheduling.x:1", **kw):
    return services.notification_schedule(
        recipient=user,
        kind=kind,
        event_key=key,
        channels=list(channels),
        context=kw.pop("context", {"starts_at": SIX_PM_PACIFIC, "link": "/rooms/7/"}),
        **kw,
    )


def _run_dispatcher(now=None):
    claims = dispatch.outbox_claim_due(now=now)
    return [
        dispatch.outbox_deliver(outbox_id=c.outbox_id, claim_token=c.token, now=now) for c in claims
    ]


def test_due_email_is_sent_once_with_text_and_html_and_no_phi(patient):
    no_quiet_hours(patient)
    _schedule(patient)
    assert _run_dispatcher() == ["sent"]
    assert _run_dispatcher() == []  # nothing left to claim
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [patient.email]
    assert "6:00 PM (Pacific)" in message.body
    assert "Hi Pat," in message.body
    assert "Member" not in message.body  # first name only, never the full name
    assert "http://127.0.0.1:8000/rooms/7/" in message.body
    html = message.alternatives[0][0]
    assert "6:00 PM (Pacific)" in html and "/rooms/7/" in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    row = Outbox.objects.get()
    assert row.status == Status.SENT and row.sent_at is not None and row.attempts == 1


def test_an_email_sent_again_after_a_lost_record_keeps_its_message_id(patient):
    """A row sent again (a safety alert whose worker died while handing it over, or a row
    staff sent again) keeps its Message-ID, so mail systems show it once."""
    no_quiet_hours(patient)
    _schedule(patient)
    assert _run_dispatcher() == ["sent"]
    row = Outbox.objects.get()
    Outbox.objects.filter(pk=row.pk).update(status=Status.PENDING, claim_token=None, sent_at=None)
    assert _run_dispatcher() == ["sent"]
    first, again = (m.extra_headers["Message-ID"] for m in mail.outbox)
    assert first == again
    assert first.startswith(f"<notification.{row.pk}.") and first.endswith("@virtualiop.test>")
    assert str(patient.email) not in first
    assert first.encode() in mail.outbox[1].message().as_bytes()


def test_future_rows_wait_until_due(patient):
    no_quiet_hours(patient)
    _schedule(patient, due_at=timezone.now() + dt.timedelta(minutes=5))
    assert _run_dispatcher() == []
    assert _run_dispatcher(now=timezone.now() + dt.timedelta(minutes=6)) == ["sent"]


def test_a_duplicate_delivery_message_sends_nothing(patient):
    no_quiet_hours(patient)
    _schedule(patient)
    (claim,) = dispatch.outbox_claim_due()
    assert dispatch.outbox_deliver(outbox_id=claim.outbox_id, claim_token=claim.token) == "sent"
    # The broker redelivers the same task (acks_late after a lost ack): a no-op.
    assert dispatch.outbox_deliver(outbox_id=claim.outbox_id, claim_token=claim.token) == "skipped"
    assert len(mail.outbox) == 1


def test_concurrent_claim_loses_the_race_and_sends_nothing(patient, monkeypatch):
    """Two dispatchers saw the same due row; the conditional UPDATE lets only one claim it."""
    no_quiet_hours(patient)
    (row,) = _schedule(patient)
    first = dispatch.outbox_claim_due()
    # Simulate the second dispatcher having read the row before the first claimed it.
    Outbox.objects.filter(pk=row.pk).update(status=Status.PENDING)
    won = Outbox.objects.filter(pk=row.pk, status=Status.PENDING).update(status=Status.SENDING)
    assert won == 1
    second = dispatch.outbox_claim_due()
    assert len(first) == 1 and second == []


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_send_each_row_once(patient):
    if connection.vendor != "postgresql":
        pytest.skip("true concurrency needs PostgreSQL (SQLite serialises writers)")
    no_quiet_hours(patient)
    for n in range(20):
        _schedule(patient, key=f"scheduling.x:{n}")
    results: list[list[dispatch.Claim]] = []
    barrier = threading.Barrier(2)

    def worker():
        from django.db import connection as conn

        try:
            barrier.wait()
            results.append(dispatch.outbox_claim_due())
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [c.outbox_id for claims in results for c in claims]
    assert len(claimed) == 20 and len(set(claimed)) == 20
    for claims in results:
        for c in claims:
            dispatch.outbox_deliver(outbox_id=c.outbox_id, claim_token=c.token)
    assert len(mail.outbox) == 20


def test_a_stale_claim_is_taken_back_and_the_old_task_does_nothing(patient, settings):
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 60
    no_quiet_hours(patient)
    _schedule(patient)
    (old,) = dispatch.outbox_claim_due()
    # The worker died mid-send; after the lease the dispatcher claims the row again.
    later = timezone.now() + dt.timedelta(seconds=61)
    (new,) = dispatch.outbox_claim_due(now=later)
    assert new.token != old.token
    assert dispatch.outbox_deliver(outbox_id=old.outbox_id, claim_token=old.token) == "skipped"
    assert dispatch.outbox_deliver(outbox_id=new.outbox_id, claim_token=new.token) == "sent"
    assert len(mail.outbox) == 1
    assert Outbox.objects.get().attempts == 2


def test_failing_backend_is_retried_with_backoff_then_marked_failed(patient, settings):
    settings.NOTIFICATIONS_EMAIL_BACKEND = "tests.notifications.backends.FailingEmailBackend"
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    FailingEmailBackend.calls = 0
    no_quiet_hours(patient)
    (row,) = _schedule(patient)
    now = timezone.now()
    assert _run_dispatcher(now) == ["retry"]
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.last_error == "ConnectionRefusedError"
    assert 29 <= (row.due_at - now).total_seconds() <= 31  # first back-off: 30 s
    assert _run_dispatcher(now + dt.timedelta(seconds=10)) == []  # not before the back-off
    now2 = now + dt.timedelta(seconds=31)
    assert _run_dispatcher(now2) == ["retry"]
    row.refresh_from_db()
    assert 59 <= (row.due_at - now2).total_seconds() <= 61  # doubled: 60 s
    assert _run_dispatcher(now2 + dt.timedelta(seconds=61)) == ["failed"]
    row.refresh_from_db()
    assert row.status == Status.FAILED and row.attempts == 3
    assert FailingEmailBackend.calls == 3
    assert _run_dispatcher(now2 + dt.timedelta(hours=2)) == []  # failed rows stay failed


def test_backoff_grows_exponentially_and_is_capped(settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    assert [dispatch.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert dispatch.backoff_seconds(20) == 3600


def test_permanent_sms_error_fails_at_once(patient, settings, monkeypatch):
    no_quiet_hours(patient)
    NotificationSettings.objects.filter(user=patient).update(
        sms_phone="+14155550100", phone_verified_at=timezone.now()
    )

    def refuse(self, *, to, body):
        raise sms.SmsError("twilio http 400 code 21211", transient=False)

    monkeypatch.setattr(sms.LocmemSmsBackend, "send", refuse)
    _schedule(patient, channels=["sms"])
    assert _run_dispatcher() == ["failed"]
    assert Outbox.objects.get().last_error == "SmsError: twilio http 400 code 21211"


def test_sms_goes_to_the_verified_phone_with_time_and_link_only(patient):
    no_quiet_hours(patient)
    NotificationSettings.objects.filter(user=patient).update(
        sms_phone="+14155550100", phone_verified_at=timezone.now()
    )
    _schedule(patient, channels=["sms"])
    assert _run_dispatcher() == ["sent"]
    (text,) = sms.outbox
    assert text.to == "+14155550100"
    assert text.body == (
        "Virtual IOP: Your group starts at 6:00 PM (Pacific). Join: http://127.0.0.1:8000/rooms/7/"
    )


def test_sms_is_never_scheduled_without_a_verified_phone(patient):
    NotificationSettings.objects.create(user=patient, sms_phone="+14155550100")
    assert _schedule(patient, channels=["sms"]) == []


def test_in_app_creates_one_notification_and_pushes_it_live(
    patient, django_capture_on_commit_callbacks
):
    _schedule(
        patient,
        channels=["in_app"],
        kind=Kind.HOMEWORK_ASSIGNED,
        context={"link": "/homework/a/3/"},
    )
    (claim,) = dispatch.outbox_claim_due()

    def deliver():
        with django_capture_on_commit_callbacks(execute=True):
            return dispatch.outbox_deliver(outbox_id=claim.outbox_id, claim_token=claim.token)

    async def scenario():
        # One event loop for the whole exchange (the Redis pub/sub layer is loop-bound).
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(patient.pk), channel)
        try:
            outcome = await sync_to_async(deliver)()
            event = await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard(user_group(patient.pk), channel)
        return outcome, event

    outcome, event = async_to_sync(scenario)()
    assert outcome == "sent"
    assert event["type"] == "user.event"
    payload = event["payload"]
    assert payload["type"] == "notification" and payload["unread"] == 1
    assert payload["title"] == "You have new homework" and payload["link"] == "/homework/a/3/"
    note = Notification.objects.get()
    assert note.recipient == patient and note.read_at is None
    # Delivering the same row again (a duplicate message) cannot add a second notification.
    assert dispatch.outbox_deliver(outbox_id=claim.outbox_id, claim_token=claim.token) == "skipped"
    assert Notification.objects.count() == 1


def test_preference_switched_off_after_scheduling_cancels_at_send_time(patient):
    no_quiet_hours(patient)
    _schedule(patient, kind=Kind.HOMEWORK_ASSIGNED)
    Preference.objects.create(
        user=patient, kind=Kind.HOMEWORK_ASSIGNED, channel=Channel.EMAIL, enabled=False
    )
    assert _run_dispatcher() == ["cancelled"]
    assert mail.outbox == []
    assert Outbox.objects.get().last_error == "turned off in preferences"


def test_inactive_recipient_gets_nothing(patient):
    no_quiet_hours(patient)
    _schedule(patient)
    type(patient).objects.filter(pk=patient.pk).update(is_active=False)
    assert _run_dispatcher() == ["cancelled"]
    assert mail.outbox == []


def test_a_task_that_starts_renews_its_lease(patient, settings, around_email_send):
    """A message that waited in the queue is not taken back while it is sending."""
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 60
    no_quiet_hours(patient)
    _schedule(patient)
    t0 = timezone.now()
    (claim,) = dispatch.outbox_claim_due(now=t0)
    started = t0 + dt.timedelta(seconds=59)  # the task ran late
    seen = {}

    def send_and_look(row, send):
        # While sending, a dispatcher a few seconds later must not take the row back.
        seen["recovered"] = dispatch.outbox_recover_stale(now=t0 + dt.timedelta(seconds=65))
        send()

    around_email_send(send_and_look)
    assert (
        dispatch.outbox_deliver(outbox_id=claim.outbox_id, claim_token=claim.token, now=started)
        == "sent"
    )
    assert seen == {"recovered": 0}
    assert len(mail.outbox) == 1


def test_a_task_starting_after_its_row_was_taken_back_sends_nothing(patient, settings):
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 60
    no_quiet_hours(patient)
    _schedule(patient)
    t0 = timezone.now()
    (claim,) = dispatch.outbox_claim_due(now=t0)
    assert dispatch.outbox_recover_stale(now=t0 + dt.timedelta(seconds=61)) == 1
    assert dispatch.outbox_deliver(outbox_id=claim.outbox_id, claim_token=claim.token) == "skipped"
    assert mail.outbox == []
