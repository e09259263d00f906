"""Delivery in batches by the worker that claimed them (``dispatch.outbox_drain``), the
dispatcher tick that starts it, and what happens to the rows of a worker that died."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from apps.notifications import dispatch, tasks
from apps.notifications.models import Outbox, Status
from tests.factories import patient_in
from tests.notifications.helpers import due_emails, sent_ids

pytestmark = pytest.mark.django_db


def test_dispatcher_tick_starts_delivery_tasks_for_the_due_rows_only(patient, monkeypatch):
    started = []
    monkeypatch.setattr(tasks.deliver_due, "apply_async", lambda **kw: started.append(kw["kwargs"]))
    assert tasks.dispatch_due(batch=3, tasks=4) == 0  # nothing due: no task
    due_emails(patient, 7)
    assert tasks.dispatch_due(batch=3, tasks=4) == 3  # ceil(7 / 3)
    assert tasks.dispatch_due(batch=3, tasks=2) == 2  # never more than `tasks`
    assert started == [{"batch": 3}] * 5
    # The tick claims nothing itself: the rows wait for a worker that sends them.
    assert Outbox.objects.filter(status=Status.PENDING).count() == 7


def test_one_delivery_task_drains_more_than_one_batch(patient):
    due_emails(patient, 7)
    assert tasks.deliver_due(batch=3) == 7  # 3 + 3 + 1, in one task
    assert Counter(Outbox.objects.values_list("status", flat=True)) == {Status.SENT: 7}
    assert sorted(sent_ids().values()) == [1] * 7
    assert tasks.deliver_due(batch=3) == 0  # nothing left, nothing sent twice
    assert len(mail.outbox) == 7


def test_a_batch_reads_recipients_settings_and_preferences_once(program, django_assert_num_queries):
    for n in range(6):
        user = patient_in(program, email=f"batch{n}@example.test", full_name=f"Pat{n} Member")
        due_emails(user, 1)
    claims = dispatch.outbox_claim_due(limit=10, recover=False)
    # rows + recipients, settings, preferences; then two UPDATEs per row: "handover" just
    # before the provider call, "sent" just after
    with django_assert_num_queries(3 + 2 * 6):
        results = dispatch.outbox_deliver_claimed(claims=claims)
    assert results == ["sent"] * 6
    assert {m.to[0] for m in mail.outbox} == {f"batch{n}@example.test" for n in range(6)}
    assert all(m.body.startswith("Hi Pat") for m in mail.outbox)


def test_a_row_taken_back_during_a_stall_is_not_sent_by_its_old_batch(patient, around_email_send):
    """Every write of the holder is conditional on its claim: a row taken back while its
    batch stalled is left to whoever claims it next."""
    due_emails(patient, 3)
    claims = dispatch.outbox_claim_due()

    def send_then_stall(row, send):
        send()
        if row.pk == claims[0].outbox_id:  # meanwhile a dispatcher took the second row back
            Outbox.objects.filter(pk=claims[1].outbox_id).update(
                status=Status.PENDING, claim_token=None
            )

    around_email_send(send_then_stall)
    assert dispatch.outbox_deliver_claimed(claims=claims) == ["sent", "skipped", "sent"]
    assert sorted(sent_ids()) == sorted(str(claims[i].outbox_id) for i in (0, 2))
    assert Outbox.objects.get(pk=claims[1].outbox_id).status == Status.PENDING


def test_rows_of_a_killed_worker_come_back_after_its_lease_and_are_sent_once(patient, settings):
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 60
    due_emails(patient, 4)
    # A worker claimed two rows, sent one, and was killed with SIGKILL before the second;
    # nothing renewed its lease since.
    held = dispatch.outbox_claim_due(now=timezone.now() - dt.timedelta(seconds=61), limit=2)
    Outbox.objects.filter(pk=held[0].outbox_id).update(status=Status.SENT, sent_at=timezone.now())
    assert dispatch.outbox_recover_stale() == 1  # the tick
    assert tasks.deliver_due(batch=10) == 3  # the released row and the two never claimed
    assert Counter(Outbox.objects.values_list("status", flat=True)) == {Status.SENT: 4}
    assert held[0].outbox_id not in {int(i) for i in sent_ids()}
    assert sorted(sent_ids().values()) == [1] * 3
    released = Outbox.objects.get(pk=held[1].outbox_id)
    assert released.attempts == 2


def test_rows_held_by_another_worker_are_left_to_their_lease(patient, settings):
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 60
    due_emails(patient, 2)
    t0 = timezone.now() - dt.timedelta(seconds=61)
    (mine,) = dispatch.outbox_claim_due(now=t0, limit=1)
    (theirs,) = dispatch.outbox_claim_due(now=t0, limit=1)
    # A delivery task claims only pending rows: it never takes a held one.
    assert tasks.deliver_due() == 0 and mail.outbox == []
    # Nobody renewed them for a whole lease: the tick takes them back, then each goes once.
    assert dispatch.outbox_recover_stale(now=t0 + dt.timedelta(seconds=59)) == 0
    assert dispatch.outbox_recover_stale() == 2
    assert tasks.deliver_due() == 2
    assert sorted(sent_ids()) == sorted(str(c.outbox_id) for c in (mine, theirs))


@pytest.mark.django_db(transaction=True)
def test_a_slow_send_keeps_its_lease_and_is_not_taken_back(patient, settings, around_email_send):
    """The lease is short, but renewed while the worker lives: a send longer than the lease
    is never handed to a second worker (which would send it twice)."""
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 2  # renewed every 0.5 s
    due_emails(patient, 1)
    seen = {}

    def slow_send(row, send):
        time.sleep(3)  # outlasting the lease is what is tested: nothing to wait for but time
        seen["taken back"] = dispatch.outbox_recover_stale()
        send()

    around_email_send(slow_send)
    try:
        assert tasks.deliver_due() == 1
    finally:
        connection.close()
    assert seen == {"taken back": 0}
    assert Outbox.objects.get().status == Status.SENT and len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_send_each_row_once(patient):
    if connection.vendor != "postgresql":
        pytest.skip("true concurrency needs PostgreSQL (SQLite serialises writers)")
    due_emails(patient, 60)
    barrier = threading.Barrier(2)
    claimed = []

    def worker():
        from django.db import connection as conn

        try:
            barrier.wait()
            claimed.append(dispatch.outbox_drain(batch=5))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(claimed) == 60
    assert len(sent_ids()) == 60 and set(sent_ids().values()) == {1}


def test_rows_not_started_before_the_stop_time_go_back_to_pending(patient):
    """A slow provider cannot carry a batch into the task's time limits."""
    due_emails(patient, 3)
    claims = dispatch.outbox_claim_due()
    results = dispatch.outbox_deliver_claimed(claims=claims, stop_at=time.monotonic() - 1)
    assert results == ["released"] * 3 and mail.outbox == []
    assert set(Outbox.objects.values_list("status", "attempts", "claim_token")) == {
        (Status.PENDING, 0, None)
    }
    assert tasks.deliver_due() == 3 and len(mail.outbox) == 3


def test_dispatcher_starts_as_many_tasks_as_configured(patient, settings, monkeypatch):
    started = []
    monkeypatch.setattr(tasks.deliver_due, "apply_async", lambda **kw: started.append(kw))
    settings.NOTIFICATIONS_DELIVERY_TASKS = 2
    due_emails(patient, 100)
    assert tasks.dispatch_due() == 2 and len(started) == 2
    assert all(kw["expires"] <= 2 * tasks.DISPATCH_EVERY_SECONDS for kw in started)
