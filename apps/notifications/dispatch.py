"""Claiming due outbox rows and delivering them, once.

- ``outbox_claim_due`` (the beat task, every 30 s) moves due ``pending`` rows to ``sending``
  with a fresh claim token, one conditional UPDATE per row (and ``SKIP LOCKED`` on
  PostgreSQL, so concurrent dispatchers pick disjoint rows), then enqueues one delivery
  task per claimed row after commit.
- ``outbox_deliver`` (the delivery task) acts only if the row is still ``sending`` under the
  same token: a duplicate or late task message — a Redis redelivery after a lost worker, a
  second dispatcher — finds the token changed or the row sent and does nothing.
- A row left ``sending`` longer than the lease (a worker killed mid-send) is taken back to
  ``pending`` and claimed again. The task renews the lease when it starts, and the lease is
  longer than the task's hard time limit, so a live task is never doubled; only a send that completed at the provider in the instant
  before the kill can be repeated — e-mail and SMS offer no idempotency key to prevent that.
- Channel failures are retried through the outbox with exponential back-off (30 s, 60 s,
  2 min … capped at 1 h) rather than Celery countdowns, so no retry lives only in a worker;
  after ``NOTIFICATIONS_MAX_ATTEMPTS`` or a permanent error the row is ``failed`` (admin).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import override

from apps.core.events import group_send_now, user_group
from apps.notifications import conf, guards, sms
from apps.notifications.models import (
    REMINDER_KINDS,
    SAFETY_KINDS,
    Channel,
    Notification,
    Outbox,
    Status,
)
from apps.notifications.rendering import Message, render, user_zone
from apps.notifications.selectors import channels_enabled, settings_for

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


class DeliveryError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Claim:
    outbox_id: int
    token: str


def _enqueue(claim: Claim) -> None:
    from apps.notifications.tasks import deliver

    deliver.delay(claim.outbox_id, claim.token)


def outbox_recover_stale(*, now: dt.datetime | None = None) -> int:
    """Take back rows stuck in ``sending`` past the lease (their worker died)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=conf.sending_lease_seconds())
    return Outbox.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff).update(
        status=Status.PENDING,
        claim_token=None,
        due_at=now,
        last_error="claim expired (worker lost); retrying",
        updated_at=now,
    )


@transaction.atomic
def outbox_claim_due(
    *, now: dt.datetime | None = None, limit: int = 200, enqueue: bool = True
) -> list[Claim]:
    """Claim due rows and (after commit) enqueue their delivery. Safe to run concurrently:
    a row is claimed by exactly one caller."""
    now = now or timezone.now()
    outbox_recover_stale(now=now)
    due = Outbox.objects.filter(status=Status.PENDING, due_at__lte=now).order_by("due_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    claims = []
    for pk in list(due.values_list("pk", flat=True)[:limit]):
        token = uuid.uuid4()
        # The conditional UPDATE is the claim: whoever flips pending → sending owns the row.
        won = Outbox.objects.filter(pk=pk, status=Status.PENDING).update(
            status=Status.SENDING,
            claim_token=token,
            claimed_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        if won:
            claims.append(Claim(outbox_id=pk, token=str(token)))
    if enqueue:
        for claim in claims:
            transaction.on_commit(lambda c=claim: _enqueue(c))  # type: ignore[misc]
    return claims


def _finish(row: Outbox, token: str, **fields: object) -> bool:
    fields.setdefault("updated_at", timezone.now())
    return bool(
        Outbox.objects.filter(pk=row.pk, status=Status.SENDING, claim_token=token).update(**fields)
    )


def _error_text(exc: BaseException) -> str:
    # Our own errors carry safe text; third-party messages may quote addresses: class only.
    if isinstance(exc, DeliveryError | sms.SmsError):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__


def backoff_seconds(attempts: int) -> int:
    return int(min(MAX_BACKOFF_SECONDS, conf.retry_base_seconds() * 2 ** max(0, attempts - 1)))


def _quiet_hours_decision(row: Outbox, now: dt.datetime) -> tuple[str, dt.datetime | None]:
    """('send', None), ('defer', until) or ('skip', None) for quiet hours."""
    if row.channel == Channel.IN_APP or row.kind in SAFETY_KINDS:
        return "send", None
    prefs = settings_for(user=row.recipient)
    zone = user_zone(row.recipient)
    local = now.astimezone(zone)
    if not prefs.in_quiet_hours(local.time().replace(tzinfo=None)):
        return "send", None
    assert prefs.quiet_end is not None  # in_quiet_hours is False without both ends
    end_local = dt.datetime.combine(local.date(), prefs.quiet_end, tzinfo=zone)
    if end_local <= local:
        end_local = dt.datetime.combine(
            local.date() + dt.timedelta(days=1), prefs.quiet_end, tzinfo=zone
        )
    until = end_local.astimezone(dt.UTC)
    starts_raw = row.payload.get("starts_at")
    if isinstance(starts_raw, str):
        starts = dt.datetime.fromisoformat(starts_raw)
        if until >= starts:
            return "skip", None  # a reminder after the session began is no reminder
    return "defer", until


def outbox_deliver(*, outbox_id: int, claim_token: str, now: dt.datetime | None = None) -> str:
    """Deliver one claimed row. Returns what happened: sent, skipped, cancelled, deferred,
    retry, failed. Idempotent: acts only while the row is ``sending`` under ``claim_token``."""
    row = Outbox.objects.select_related("recipient").filter(pk=outbox_id).first()
    if row is None or row.status != Status.SENDING or str(row.claim_token) != str(claim_token):
        return "skipped"
    now = now or timezone.now()
    # Renew the lease as the task starts: the lease then bounds the send itself (hard time
    # limit 90 s < lease 300 s), not the time the message waited in the queue. If the
    # dispatcher took the row back first, this UPDATE matches nothing and we stop here.
    if not Outbox.objects.filter(pk=row.pk, status=Status.SENDING, claim_token=claim_token).update(
        claimed_at=now
    ):
        return "skipped"
    recipient = row.recipient
    reason = None
    if not recipient.is_active:
        reason = "recipient inactive"
    elif row.channel not in channels_enabled(user=recipient, kind=row.kind):
        reason = "turned off in preferences"
    else:
        reason = guards.reason_to_skip(row)
    if reason:
        _finish(row, claim_token, status=Status.CANCELLED, last_error=reason[:300])
        return "cancelled"
    decision, until = _quiet_hours_decision(row, now)
    if decision == "skip":
        _finish(row, claim_token, status=Status.CANCELLED, last_error="quiet hours")
        return "cancelled"
    if decision == "defer":
        _finish(
            row,
            claim_token,
            status=Status.PENDING,
            due_at=until,
            claim_token=None,
            attempts=F("attempts") - 1,
            last_error="deferred: quiet hours",
        )
        return "deferred"
    with override("en"):
        message = render(kind=row.kind, recipient=recipient, payload=row.payload)
    try:
        if row.channel == Channel.IN_APP:
            return _deliver_in_app(row, claim_token, message)
        if row.channel == Channel.EMAIL:
            _send_email(row, message)
        elif row.channel == Channel.SMS:
            _send_sms(row, message)
    except Exception as exc:
        transient = getattr(exc, "transient", True)
        logger.warning(
            "notification %s via %s attempt %s failed: %s",
            row.pk,
            row.channel,
            row.attempts,
            type(exc).__name__,
        )
        if transient and row.attempts < conf.max_attempts():
            _finish(
                row,
                claim_token,
                status=Status.PENDING,
                claim_token=None,
                due_at=now + dt.timedelta(seconds=backoff_seconds(row.attempts)),
                last_error=_error_text(exc),
            )
            return "retry"
        _finish(row, claim_token, status=Status.FAILED, last_error=_error_text(exc))
        return "failed"
    _finish(row, claim_token, status=Status.SENT, sent_at=timezone.now(), last_error="")
    return "sent"


@transaction.atomic
def _deliver_in_app(row: Outbox, token: str, message: Message) -> str:
    locked = (
        Outbox.objects.select_for_update()
        .filter(pk=row.pk, status=Status.SENDING, claim_token=token)
        .first()
    )
    if locked is None:
        return "skipped"
    link = message.link.removeprefix(conf.site_url()) or "/notifications/"
    notification, _created = Notification.objects.get_or_create(
        outbox=locked,
        defaults={
            "recipient_id": row.recipient_id,
            "kind": row.kind,
            "title": message.title[:200],
            "body": message.body[:500],
            "link": link[:300],
        },
    )
    _finish(row, token, status=Status.SENT, sent_at=timezone.now(), last_error="")
    unread = Notification.objects.filter(recipient_id=row.recipient_id, read_at=None).count()
    event = {
        "type": "user.event",
        "payload": {
            "type": "notification",
            "id": notification.pk,
            "kind": notification.kind,
            "title": notification.title,
            "body": notification.body,
            "link": notification.link,
            "unread": unread,
            "urgent": bool(message.extra.get("urgent")),
        },
    }
    # Live push to open pages; a page opened later lists it from the database.
    transaction.on_commit(lambda: _push(row.recipient_id, event))
    return "sent"


def _push(user_id: int, event: dict[str, Any]) -> None:
    try:
        group_send_now(user_group(user_id), event)
    except Exception:  # the row is stored; the next page load shows it
        logger.warning("in-app push to user %s failed", user_id, exc_info=True)


def _send_email(row: Outbox, message: Message) -> None:
    from apps.notifications.unsubscribe import unsubscribe_url

    recipient = row.recipient
    unsubscribe = (
        unsubscribe_url(user=recipient, kind=row.kind) if row.kind in REMINDER_KINDS else ""
    )
    context = {"message": message, "unsubscribe_url": unsubscribe, "kind": row.kind}
    text = render_to_string("emails/notification.txt", context)
    html = render_to_string("emails/notification.html", context)
    headers = {"X-Notification-Id": str(row.pk)}
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=text,
        to=[recipient.email],
        headers=headers,
        connection=get_connection(conf.email_backend()),
    )
    email.attach_alternative(html, "text/html")
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError("recipient refused by the mail server", transient=False) from exc


def _send_sms(row: Outbox, message: Message) -> None:
    prefs = settings_for(user=row.recipient)
    if not prefs.phone_verified:
        raise DeliveryError("phone not verified", transient=False)
    sms.get_backend().send(to=prefs.sms_phone, body=f"Virtual IOP: {message.sms}"[:480])
