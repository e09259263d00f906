"""A worker that dies while handing a message to the provider: the row was ``handover``, and
nobody can ask an e-mail or SMS provider whether it took the message. Reminders are then
never sent again (at most once: no patient gets a reminder twice) and wait, "outcome
unknown", for staff in admin; safety alerts are sent again (at least once). What the worker
had not yet offered to the provider is always sent again."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from apps.notifications import dispatch, services, tasks
from apps.notifications.models import Kind, Outbox, Status
from tests.notifications.helpers import due_emails, sent_ids

pytestmark = pytest.mark.django_db


def _killed_mid_send(rows_in_hand: int) -> list[dispatch.Claim]:
    """A worker claimed every due row a lease ago, handed ``rows_in_hand`` of them over and
    was killed; it renewed nothing since, so the next tick takes its rows back."""
    lease = dt.timedelta(seconds=settings.NOTIFICATIONS_SENDING_LEASE_SECONDS + 1)
    claims = dispatch.outbox_claim_due(now=timezone.now() - lease)
    Outbox.objects.filter(pk__in=[c.outbox_id for c in claims[:rows_in_hand]]).update(
        status=Status.HANDOVER
    )
    assert dispatch.outbox_recover_stale() == len(claims)
    return claims


def test_the_row_is_handed_over_in_the_database_before_the_provider_is_called(
    patient, around_email_send
):
    due_emails(patient, 1, kind=Kind.SESSION_REMINDER, prefix="scheduling.x")
    seen = []

    def look(row, send):
        seen.append(Outbox.objects.get(pk=row.pk).status)  # (committed at once outside tests)
        send()

    around_email_send(look)
    assert tasks.deliver_due() == 1
    assert seen == [Status.HANDOVER]
    assert Outbox.objects.get().status == Status.SENT and len(mail.outbox) == 1


def test_a_reminder_in_hand_when_its_worker_died_is_not_sent_again(patient):
    due_emails(patient, 3, kind=Kind.SESSION_REMINDER, prefix="scheduling.x")
    claims = _killed_mid_send(1)
    in_hand = claims[0].outbox_id
    # The dead worker's rows were taken back: two were never offered, one was.
    assert tasks.deliver_due() == 2
    assert str(in_hand) not in sent_ids()
    assert sorted(sent_ids().values()) == [1, 1]
    row = Outbox.objects.get(pk=in_hand)
    assert row.status == Status.UNKNOWN and row.sent_at is None
    assert "not sent again" in row.last_error
    assert tasks.deliver_due() == 0 and len(mail.outbox) == 2  # and it stays so


def test_a_safety_alert_in_hand_when_its_worker_died_is_sent_again_with_its_message_id(
    clinician,
):
    due_emails(clinician, 2, kind=Kind.SAFETY_ALERT, prefix="test.alert")
    claims = _killed_mid_send(1)
    assert tasks.deliver_due() == 2
    assert sorted(sent_ids()) == sorted(str(c.outbox_id) for c in claims)
    assert Counter(Outbox.objects.values_list("status", flat=True)) == {Status.SENT: 2}
    again = next(
        m for m in mail.outbox if m.extra_headers["X-Notification-Id"] == str(claims[0].outbox_id)
    )
    assert again.extra_headers["Message-ID"] == dispatch.message_id(
        Outbox.objects.get(pk=claims[0].outbox_id)
    )


def test_a_holder_silent_for_a_whole_lease_leaves_reminders_unknown_and_alerts_pending(
    patient, clinician, settings
):
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 60
    due_emails(patient, 2, kind=Kind.SESSION_REMINDER, prefix="scheduling.x")
    due_emails(clinician, 1, kind=Kind.SAFETY_ALERT, prefix="test.alert")
    t0 = timezone.now() - dt.timedelta(seconds=61)
    # A worker stopped renewing: only the lease tells. It had handed over one reminder and
    # the alert; the other reminder not yet.
    claims = dispatch.outbox_claim_due(now=t0)
    by_kind = {c.outbox_id: Outbox.objects.get(pk=c.outbox_id).kind for c in claims}
    reminders = [pk for pk, kind in by_kind.items() if kind == Kind.SESSION_REMINDER]
    alert = next(pk for pk, kind in by_kind.items() if kind == Kind.SAFETY_ALERT)
    Outbox.objects.filter(pk__in=[reminders[0], alert]).update(status=Status.HANDOVER)
    assert dispatch.outbox_recover_stale(now=t0 + dt.timedelta(seconds=59)) == 0
    assert dispatch.outbox_recover_stale() == 3
    assert Outbox.objects.get(pk=reminders[0]).status == Status.UNKNOWN
    assert tasks.deliver_due() == 2
    assert sorted(sent_ids()) == sorted([str(reminders[1]), str(alert)])


def test_a_holder_that_outlived_its_lease_still_records_what_the_provider_did(
    patient, around_email_send
):
    due_emails(patient, 2, kind=Kind.SESSION_REMINDER, prefix="scheduling.x")
    taken = []

    def stall_past_the_lease(row, send):
        # The lease thread could not renew (a long stall): a dispatcher took the row back.
        later = timezone.now() + dt.timedelta(hours=1)
        taken.append(
            (dispatch.outbox_recover_stale(now=later), Outbox.objects.get(pk=row.pk).status)
        )
        send()

    around_email_send(stall_past_the_lease)
    (first, second) = dispatch.outbox_claim_due(limit=1) + dispatch.outbox_claim_due(limit=1)
    assert dispatch.outbox_deliver(outbox_id=first.outbox_id, claim_token=first.token) == "sent"
    # The row was unknown for a moment; the provider took it, so it is sent after all.
    assert taken[0][1] == Status.UNKNOWN
    assert Outbox.objects.get(pk=first.outbox_id).status == Status.SENT
    # The other claimed row, never offered to the provider, went back to pending.
    assert Outbox.objects.get(pk=second.outbox_id).status == Status.PENDING
    assert list(sent_ids()) == [str(first.outbox_id)]


def test_a_provider_that_refuses_after_the_hand_over_is_a_known_failure_and_retried(
    patient, settings
):
    settings.NOTIFICATIONS_EMAIL_BACKEND = "tests.notifications.backends.FailingEmailBackend"
    due_emails(patient, 1, kind=Kind.SESSION_REMINDER, prefix="scheduling.x")
    assert tasks.deliver_due() == 1
    row = Outbox.objects.get()
    assert row.status == Status.PENDING and row.last_error == "ConnectionRefusedError"
    assert row.claim_token is None and row.due_at > timezone.now()


def test_staff_can_send_an_unknown_reminder_again_and_it_keeps_its_message_id(patient):
    due_emails(patient, 1, kind=Kind.SESSION_REMINDER, prefix="scheduling.x")
    (claim,) = _killed_mid_send(1)
    assert tasks.deliver_due() == 0
    assert services.outbox_retry(outbox_ids=[claim.outbox_id]) == 1
    assert tasks.deliver_due() == 1
    (message,) = mail.outbox
    row = Outbox.objects.get()
    assert row.status == Status.SENT
    assert message.extra_headers["Message-ID"] == dispatch.message_id(row)


def test_a_batch_opens_the_mail_connection_once_before_the_first_hand_over(
    program, settings, around_email_send
):
    from tests.factories import patient_in

    settings.NOTIFICATIONS_EMAIL_BACKEND = "tests.notifications.backends.OpenCountingBackend"
    from tests.notifications.backends import OpenCountingBackend

    OpenCountingBackend.events.clear()
    for n in range(3):
        user = patient_in(program, email=f"open{n}@example.test", full_name=f"Pat{n} Member")
        due_emails(user, 1, kind=Kind.SESSION_REMINDER, prefix="scheduling.x")

    def note(row, send):
        OpenCountingBackend.events.append("hand over")
        send()

    around_email_send(note)
    assert tasks.deliver_due() == 3
    assert OpenCountingBackend.events == [
        "open",
        "hand over",
        "send",
        "hand over",
        "send",
        "hand over",
        "send",
        "close",
    ]
