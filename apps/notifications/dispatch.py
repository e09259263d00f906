"""Claiming due outbox rows and delivering them, once.

- ``outbox_claim_due`` claims due ``pending`` rows with one conditional UPDATE
  (``pending → sending`` under a fresh claim token; ``SKIP LOCKED`` on PostgreSQL, so
  concurrent claimers pick disjoint rows), as healthchecks' ``sendalerts`` claims a flip.
  ``outbox_drain`` (the ``notifications.deliver_due`` task) claims batches and sends them in
  the same process, so a row is ``sending`` only while a worker holds it.
- The claim is a lease: its holder renews ``claimed_at`` every quarter lease while it sends.
  A row whose holder stopped renewing for a whole lease (the worker was killed, its host
  died) is taken back by the next tick. Every later write of the holder is conditional on
  its token, so a taken-back row is never written or handed over by it again.
- Just before the provider is called the row moves to ``handover`` (committed), and it is
  marked sent as soon as the provider took it. Taken back, a ``sending`` row was never
  offered to the provider and goes back to ``pending``. A ``handover`` row may or may not
  have reached it (e-mail and SMS take no idempotency key): safety alerts go back to
  ``pending`` (at least once: a second alert beats none); every other kind becomes
  ``unknown`` and is not sent again (at most once), listed in admin. Over SMTP the hand-over
  is just before the end-of-data line (``mail.HandOverSMTPBackend``).
- Channel failures are retried through the outbox with exponential back-off (30 s, 60 s,
  2 min … capped at 1 h); after ``NOTIFICATIONS_MAX_ATTEMPTS`` or a permanent error the
  row is ``failed`` (admin).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import override

from apps.core.events import group_send_now, user_group
from apps.notifications import conf, guards, sms
from apps.notifications import outside as outside_recipients
from apps.notifications.mail import HandOver, OutcomeUnknown
from apps.notifications.models import (
    HELD_STATUSES,
    OUTSIDE_KINDS,
    REMINDER_KINDS,
    SAFETY_KINDS,
    Channel,
    Notification,
    NotificationSettings,
    Outbox,
    Status,
)
from apps.notifications.rendering import Message, render, user_zone
from apps.notifications.selectors import (
    channels_enabled,
    preferences_maps,
    settings_for_users,
)
from apps.notifications.unsubscribe import unsubscribe_url

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


def outbox_recover_stale(*, now: dt.datetime | None = None) -> int:
    """Take back the rows whose lease was not renewed for a whole lease: their holder is
    gone. Not yet offered to the provider, or a safety alert: ``pending``; a reminder it was
    handing over: ``unknown``."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.NOTIFICATIONS_SENDING_LEASE_SECONDS)
    held = Outbox.objects.filter(status__in=HELD_STATUSES, claimed_at__lt=cutoff)
    why = "claim expired (worker lost)"
    again = held.filter(
        Q(status=Status.SENDING) | Q(status=Status.HANDOVER, kind__in=SAFETY_KINDS)
    ).update(
        status=Status.PENDING,
        claim_token=None,
        last_error=f"{why}; retrying",
        due_at=now,
        updated_at=now,
    )
    # The claim token stays: should the holder be alive after all and the provider answer,
    # its own "sent" (or "failed") still lands on the row.
    unknown = held.filter(status=Status.HANDOVER).update(
        status=Status.UNKNOWN,
        last_error=f"{why} while handing it to the provider; not sent again",
        updated_at=now,
    )
    if unknown:
        logger.warning("%s outbox rows left unknown: their worker died mid-send", unknown)
    return again + unknown


@transaction.atomic
def outbox_claim_due(
    *, now: dt.datetime | None = None, limit: int = 200, recover: bool = True
) -> list[Claim]:
    """Claim up to ``limit`` due rows under one fresh token, for the caller to send. Safe to
    run concurrently: a row is claimed by exactly one caller."""
    now = now or timezone.now()
    if recover:
        outbox_recover_stale(now=now)
    due = Outbox.objects.filter(status=Status.PENDING, due_at__lte=now).order_by("due_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    pks = list(due.values_list("pk", flat=True)[:limit])
    if not pks:
        return []
    token = uuid.uuid4()
    # The conditional UPDATE is the claim: whoever flips pending → sending owns the row. With
    # SKIP LOCKED the rows are already ours; without it (SQLite) another claimer may have
    # flipped some first, so read back which ones carry our token. (One UPDATE with the
    # SELECT as a subquery would not do: PostgreSQL may rescan it and claim past the limit.)
    won = Outbox.objects.filter(pk__in=pks, status=Status.PENDING).update(
        status=Status.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if won != len(pks):
        mine = Outbox.objects.filter(pk__in=pks, claim_token=token).order_by("due_at", "pk")
        pks = list(mine.values_list("pk", flat=True))
    return [Claim(outbox_id=pk, token=str(token)) for pk in pks]


def outbox_due_count(*, now: dt.datetime, limit: int) -> int:
    """How many rows are due to be claimed, counting no further than ``limit``."""
    due = Outbox.objects.filter(status=Status.PENDING, due_at__lte=now).order_by()
    return due.values("pk")[:limit].count()


def outbox_drain(*, batch: int = 25, budget_seconds: float = 20.0) -> int:
    """Claim due rows in batches and send them in this process until none is due or the
    budget is spent; returns how many were claimed."""
    deadline = time.monotonic() + budget_seconds
    total = 0
    while True:
        claims = outbox_claim_due(limit=batch, recover=False)
        if claims:
            # A slow provider must not carry the batch into the task's time limits: rows not
            # started by then go back to pending for the next task.
            outbox_deliver_claimed(claims=claims, stop_at=deadline + budget_seconds / 2)
        total += len(claims)
        if len(claims) < batch or time.monotonic() >= deadline:
            return total


@contextlib.contextmanager
def _lease_kept(token: str) -> Iterator[None]:
    """Renew the lease of the rows held under ``token`` every quarter lease while the block
    runs: a slow send is never taken back (and sent twice), a killed worker stops renewing."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.NOTIFICATIONS_SENDING_LEASE_SECONDS / 4):
                held = Outbox.objects.filter(status__in=HELD_STATUSES, claim_token=token)
                try:
                    held.update(claimed_at=timezone.now())
                except DatabaseError:
                    logger.warning("could not renew the outbox lease", exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=renew, name="outbox-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@dataclass
class _Batch:
    """What a batch of deliveries reads once instead of per row."""

    settings: dict[int, NotificationSettings]
    prefs: dict[int, dict[tuple[str, str], bool]]
    email: Any = None  # one e-mail connection for the batch, opened on first use

    @classmethod
    def load(cls, rows: list[Outbox]) -> _Batch:
        ids = {row.recipient_id for row in rows}
        return cls(settings=settings_for_users(user_ids=ids), prefs=preferences_maps(user_ids=ids))

    def email_connection(self) -> Any:
        if self.email is None:
            self.email = get_connection(conf.email_backend())
        return self.email

    def close(self) -> None:
        if self.email is not None:
            with contextlib.suppress(Exception):
                self.email.close()
            self.email = None


def outbox_deliver_claimed(
    *, claims: list[Claim], now: dt.datetime | None = None, stop_at: float | None = None
) -> list[str]:
    """Deliver rows this process just claimed (one token), reading the recipients, their
    settings and preferences once for the batch. Rows not started by ``stop_at``
    (``time.monotonic()``) go back to ``pending`` ("released")."""
    if not claims:
        return []
    token = claims[0].token
    rows = list(
        Outbox.objects.select_related("recipient").filter(
            pk__in=[c.outbox_id for c in claims], status=Status.SENDING, claim_token=token
        )
    )
    batch = _Batch.load(rows)
    results = []
    try:
        with _lease_kept(token):
            for n, row in enumerate(rows):
                if stop_at is not None and time.monotonic() >= stop_at:
                    _release(rows[n:], token)
                    results.extend(["released"] * (len(rows) - n))
                    break
                results.append(_deliver_row(row, token, now or timezone.now(), batch))
    finally:
        batch.close()
    return results


def outbox_deliver(*, outbox_id: int, claim_token: str, now: dt.datetime | None = None) -> str:
    """Deliver one claimed row: sent, skipped, cancelled, deferred, retry, failed, unknown.
    A no-op ("skipped") unless the row is still ``sending`` under ``claim_token``."""
    now = now or timezone.now()
    # A claim that waited before it was sent starts a new lease.
    Outbox.objects.filter(pk=outbox_id, status=Status.SENDING, claim_token=claim_token).update(
        claimed_at=now
    )
    claims = [Claim(outbox_id=outbox_id, token=str(claim_token))]
    return (outbox_deliver_claimed(claims=claims, now=now) or ["skipped"])[0]


def _release(rows: list[Outbox], token: str) -> int:
    return Outbox.objects.filter(
        pk__in=[row.pk for row in rows], status=Status.SENDING, claim_token=token
    ).update(
        status=Status.PENDING,
        claim_token=None,
        attempts=F("attempts") - 1,
        updated_at=timezone.now(),
    )


def _hand_over(
    row: Outbox,
    token: str,
    outside: outside_recipients.OutsideRecipient | None = None,
    stopped: list[str] | None = None,
) -> bool:
    """Record, before the provider is called, that this row may be about to reach it. For
    an outside recipient, its app's ``at_hand_over`` runs in the same transaction (it may
    stop the row, which is then cancelled, and appends the reason to ``stopped``)."""
    held = Outbox.objects.filter(pk=row.pk, status=Status.SENDING, claim_token=token)
    if outside is None:
        return bool(held.update(status=Status.HANDOVER, updated_at=timezone.now()))
    with transaction.atomic():
        if held.select_for_update().first() is None:
            return False
        reason = outside.at_hand_over(row)
        if reason:
            _finish(row, token, status=Status.CANCELLED, last_error=reason[:300])
            if stopped is not None:
                stopped.append(reason)
            return False
        return bool(held.update(status=Status.HANDOVER, updated_at=timezone.now()))


# A row being sent, or (the lease ran out while its holder still lived) marked unknown under
# the holder's token: the holder's word on what the provider did is final.
_FINISHABLE = (*HELD_STATUSES, Status.UNKNOWN)


def _finish(row: Outbox, token: str, **fields: object) -> bool:
    fields.setdefault("updated_at", timezone.now())
    return bool(
        Outbox.objects.filter(pk=row.pk, status__in=_FINISHABLE, claim_token=token).update(**fields)
    )


def _error_text(exc: BaseException) -> str:
    # Our own errors carry safe text; third-party messages may quote addresses: class only.
    if isinstance(exc, DeliveryError | sms.SmsError | OutcomeUnknown):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__


def backoff_seconds(attempts: int) -> int:
    base = settings.NOTIFICATIONS_RETRY_BASE_SECONDS
    return int(min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1)))


def _quiet_hours_decision(
    row: Outbox, now: dt.datetime, prefs: NotificationSettings
) -> tuple[str, dt.datetime | None]:
    """('send', None), ('defer', until) or ('skip', None) for quiet hours."""
    if row.channel == Channel.IN_APP or row.kind in SAFETY_KINDS:
        return "send", None
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


def _deliver_row(row: Outbox, claim_token: str, now: dt.datetime, batch: _Batch) -> str:
    recipient = row.recipient
    prefs = batch.settings[row.recipient_id]
    reason = None
    if not recipient.is_active:
        reason = "recipient inactive"
    elif row.channel not in channels_enabled(
        user=recipient,
        kind=row.kind,
        prefs=batch.prefs[row.recipient_id],
        user_settings=prefs,
    ):
        reason = "turned off in preferences"
    else:
        reason = guards.reason_to_skip(row)
    outside = outside_recipients.for_kind(row.kind)
    outside_to = None
    if not reason and row.kind in OUTSIDE_KINDS:
        if outside is None:
            reason = "no outside recipient registered for this kind"
        elif row.channel != Channel.EMAIL:
            reason = "outside recipients are written to by e-mail only"
        else:
            outside_to = outside.address(row)
            if not outside_to:
                reason = "no address for the outside recipient"
    if reason:
        _finish(row, claim_token, status=Status.CANCELLED, last_error=reason[:300])
        return "cancelled"
    decision, until = _quiet_hours_decision(row, now, prefs)
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
        if outside is not None and outside_to:
            message.lines.extend(outside.extra_lines(row))
    stopped: list[str] = []
    try:
        if row.channel == Channel.IN_APP:
            return _deliver_in_app(row, claim_token, message)
        if row.channel == Channel.EMAIL:
            send = _email_sender(row, message, batch, to=outside_to)
        else:
            send = _sms_sender(row, message, prefs)
        # From the hand-over on (just before the provider call, or for SMTP just before the
        # end of data), a death of this process leaves the outcome unknown.
        if not send(lambda: _hand_over(row, claim_token, outside if outside_to else None, stopped)):
            return "cancelled" if stopped else "skipped"
    except Exception as exc:
        transient = getattr(exc, "transient", True)
        logger.warning(
            "notification %s via %s attempt %s failed: %s",
            row.pk,
            row.channel,
            row.attempts,
            type(exc).__name__,
        )
        if row.channel == Channel.EMAIL:
            batch.close()  # the connection may be broken: the next row opens a new one
        if getattr(exc, "outcome_unknown", False) and not row.is_safety:
            # The provider may have it (its answer was lost): sent again only by staff.
            why = f"{_error_text(exc)}: the provider's answer was lost; not sent again"
            _finish(row, claim_token, status=Status.UNKNOWN, last_error=why[:300])
            return "unknown"
        if transient and row.attempts < settings.NOTIFICATIONS_MAX_ATTEMPTS:
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
    link = message.link.removeprefix(conf.site_url()) or reverse("notifications:list")
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


def message_id(row: Outbox) -> str:
    """The same Message-ID every time this row is sent. A safety alert whose worker died
    while handing it over is sent again (at least once); mail systems and clients show one
    message per Message-ID, so the clinician sees one. Staff sending an "unknown" reminder
    again get the same. Keyed with SECRET_KEY: unique across deployments, and not guessable
    from the row id."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<notification.{row.pk}.{salted_hmac('message-id', str(row.pk)).hexdigest()[:20]}@{domain}>"


def _email_sender(
    row: Outbox, message: Message, batch: _Batch, *, to: str | None = None
) -> Callable[[HandOver], bool]:
    """Render the e-mail and open the connection; returns the call that sends it, calling
    ``hand_over`` first (SMTP: at the end of data) and False if that declined. ``to``: an
    outside recipient's address instead of the recipient's own."""
    recipient = row.recipient
    unsubscribe = (
        unsubscribe_url(user=recipient, kind=row.kind) if row.kind in REMINDER_KINDS else ""
    )
    context = {"message": message, "unsubscribe_url": unsubscribe, "kind": row.kind}
    text = render_to_string("emails/notification.txt", context)
    html = render_to_string("emails/notification.html", context)
    headers = {"X-Notification-Id": str(row.pk), "Message-ID": message_id(row)}
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=text,
        to=[to or recipient.email],
        headers=headers,
        connection=batch.email_connection(),
    )
    email.attach_alternative(html, "text/html")
    # Opened now, it stays open for the rest of the batch (send_messages closes only a
    # connection it opened itself) and a slow connect is not part of the hand-over.
    connection = batch.email_connection()
    connection.open()
    handing_over = getattr(connection, "send_handing_over", None)  # mail.HandOverSMTPBackend

    def send(hand_over: HandOver) -> bool:
        try:
            if handing_over is not None:
                return bool(handing_over(email, hand_over))
            if not hand_over():
                return False
            email.send()
            return True
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError("recipient refused by the mail server", transient=False) from exc

    return send


def _sms_sender(
    row: Outbox, message: Message, prefs: NotificationSettings
) -> Callable[[HandOver], bool]:
    if not prefs.phone_verified:
        raise DeliveryError("phone not verified", transient=False)
    backend = sms.get_backend()
    to, body = prefs.sms_phone, f"Virtual IOP: {message.sms}"[:480]

    def send(hand_over: HandOver) -> bool:
        # An HTTP API takes the message somewhere inside the request: hand over before it.
        if not hand_over():
            return False
        backend.send(to=to, body=body)
        return True

    return send
