"""Writes for notifications — the public API other apps call.

Public API (keyword-only; stable):

``notification_schedule(*, recipient, kind, event_key, context=None, due_at=None, channels=None)``
    Create (or update) the outbox rows for one notification to one person, in the caller's
    transaction. Idempotent: one row per (recipient, event_key, kind, channel).

``notifications_cancel(*, event_key, recipient=None, kinds=None)``
    Cancel pending rows for an event (and its sub-events), e.g. when a session is cancelled.

``safety_alert_raise(*, event_key, patient, context=None, recipients=None)``
    Alert clinicians at once (e-mail + in-app, quiet hours ignored) and schedule the
    30-minute escalation to the program's on-call staff.

``safety_alert_acknowledge(*, event_key)``
    A clinician acknowledged the flag: stop the pending escalation.

Event keys are built from ids only, dotted app.model then ``:`` id, optionally followed by
a sub-part after ``:``, ``@`` or ``/`` (``scheduling.session:42``,
``scheduling.session:42@20261123T0200Z/60m``). Cancelling ``scheduling.session:42`` also
cancels every sub-key of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.selectors import clinicians_to_alert
from apps.core.events import send_event_on_commit, user_group
from apps.notifications import sms
from apps.notifications.models import (
    SAFETY_KINDS,
    Channel,
    Kind,
    Notification,
    NotificationSettings,
    Outbox,
    Preference,
    Status,
    dedupe_key_for,
)
from apps.notifications.selectors import (
    MANDATORY_CHANNELS,
    channels_enabled,
    notifications_for,
    preferences_map,
)
from apps.notifications.unsubscribe import unsubscribe_token_read

logger = logging.getLogger(__name__)

# Minutes after a safety alert before it goes to the program's on-call list.
SAFETY_ESCALATION_MINUTES = 30

# What a payload may carry: ids, times and links — never names, answers, scores or topics.
# Unknown keys are dropped (and logged by name only) so a caller cannot leak PHI by mistake.
ALLOWED_CONTEXT_KEYS = frozenset(
    {
        "starts_at",  # datetime: when the session/appointment starts (shown in the recipient's zone)
        "ends_at",
        "old_starts_at",  # datetime: the previous start, for change notices
        "due_on",  # date: homework due date
        "start_on",  # date: the first day in the program (admission)
        "expires_at",  # datetime: when an offer (a group seat) lapses
        "link",  # path ("/schedule/sessions/42/") or absolute URL; ids only
        "session_id",
        "appointment_id",
        "group_id",
        "membership_id",
        "offer_id",
        "assignment_id",
        "flag_id",
        "patient_id",
        "program_id",
        "enrollment_id",
        "release_id",  # the release of information an outside recipient is written to under
        "urgent",  # bool: a safety alert marked urgent (in-app badge only)
    }
)


class NotificationError(ValueError):
    """Bad input to a notification service (unknown kind, bad event key or context)."""


def _event_key_clean(event_key: str) -> str:
    key = (event_key or "").strip()
    if not key or len(key) > 160 or any(ch.isspace() for ch in key):
        raise NotificationError("event_key must be 1-160 characters without spaces.")
    return key


def _kind_clean(kind: str) -> str:
    if kind not in Kind.values:
        raise NotificationError(f"Unknown notification kind {kind!r}.")
    return str(kind)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            raise NotificationError("Datetimes in a notification context must be aware.")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def payload_from_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keep the allowed keys, datetimes as UTC ISO strings; reject what JSON cannot hold."""
    payload: dict[str, Any] = {}
    dropped = []
    for key, value in (context or {}).items():
        if key not in ALLOWED_CONTEXT_KEYS:
            dropped.append(str(key))
            continue
        payload[key] = _json_value(value)
    if dropped:
        logger.warning("notification context keys dropped: %s", ",".join(sorted(dropped)))
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise NotificationError("The notification context must be JSON-serialisable.") from exc
    return payload


def _rows_matching_event(event_key: str) -> Q:
    return (
        Q(event_key=event_key)
        | Q(event_key__startswith=f"{event_key}:")
        | Q(event_key__startswith=f"{event_key}@")
        | Q(event_key__startswith=f"{event_key}/")
    )


@transaction.atomic
def notification_schedule(
    *,
    recipient: User,
    kind: str,
    event_key: str,
    context: Mapping[str, Any] | None = None,
    due_at: dt.datetime | None = None,
    channels: Iterable[str] | None = None,
) -> list[Outbox]:
    """Queue a notification of ``kind`` to ``recipient`` about ``event_key``.

    - Writes in the caller's transaction: if the caller rolls back, nothing is sent.
    - ``context`` holds ids, aware datetimes, dates and a link (see ``ALLOWED_CONTEXT_KEYS``);
      other keys are dropped. The text is rendered at send time from the kind, the
      recipient's first name and time zone, so nothing clinical goes into e-mail or SMS.
    - ``due_at`` (aware; default now) is when to send. Future rows wait in the outbox (no
      Celery ETA tasks); the dispatcher sends them when due.
    - ``channels`` (default: every channel) is narrowed by the recipient's preferences and
      a verified phone for SMS; safety kinds always go by e-mail and in-app.
    - Idempotent by dedupe key (recipient, event_key, kind, channel): calling again updates a
      pending or cancelled row (new time, new context, pending again) and leaves rows already
      sending, sent or failed alone — so a notice is never sent twice.

    Returns the rows now pending or already handled for this call (one per channel).
    Raises ``NotificationError`` on an unknown kind, a bad event key or a naive datetime.
    """
    kind = _kind_clean(kind)
    event_key = _event_key_clean(event_key)
    payload = payload_from_context(context)
    if due_at is None:
        due_at = timezone.now()
    elif timezone.is_naive(due_at):
        raise NotificationError("due_at must be timezone-aware.")
    if not recipient.is_active:
        return []
    wanted = set(Channel.values) if channels is None else {str(c) for c in channels}
    unknown = wanted - set(Channel.values)
    if unknown:
        raise NotificationError(f"Unknown channel(s): {', '.join(sorted(unknown))}.")
    enabled = channels_enabled(user=recipient, kind=kind, prefs=preferences_map(user=recipient))
    rows = []
    for channel in sorted(wanted & enabled):
        rows.append(
            _outbox_upsert(
                recipient=recipient,
                kind=kind,
                channel=channel,
                event_key=event_key,
                payload=payload,
                due_at=due_at,
            )
        )
    return rows


def _outbox_upsert(
    *,
    recipient: User,
    kind: str,
    channel: str,
    event_key: str,
    payload: dict[str, Any],
    due_at: dt.datetime,
) -> Outbox:
    key = dedupe_key_for(recipient_id=recipient.pk, event_key=event_key, kind=kind, channel=channel)
    row = Outbox.objects.select_for_update().filter(dedupe_key=key).first()
    if row is None:
        try:
            # A savepoint, so losing a race to a concurrent insert leaves the caller's
            # transaction usable; the winner's row is then updated like any existing one.
            with transaction.atomic():
                return Outbox.objects.create(
                    recipient=recipient,
                    kind=kind,
                    channel=channel,
                    event_key=event_key,
                    payload=payload,
                    due_at=due_at,
                    dedupe_key=key,
                )
        except IntegrityError:
            row = Outbox.objects.select_for_update().get(dedupe_key=key)
    if row.status in (Status.PENDING, Status.CANCELLED):
        row.payload = payload
        row.due_at = due_at
        row.status = Status.PENDING
        row.last_error = ""
        row.save(update_fields=["payload", "due_at", "status", "last_error", "updated_at"])
    return row


@transaction.atomic
def notifications_cancel(
    *,
    event_key: str,
    recipient: User | None = None,
    kinds: Iterable[str] | None = None,
    reason: str = "event cancelled",
) -> int:
    """Cancel the pending rows of ``event_key`` and its sub-keys (optionally only for one
    recipient or some kinds). Rows already sending or sent are left alone; the send-time
    checks stop reminders whose session was cancelled meanwhile. Returns rows cancelled."""
    event_key = _event_key_clean(event_key)
    rows = Outbox.objects.filter(_rows_matching_event(event_key), status=Status.PENDING)
    if recipient is not None:
        rows = rows.filter(recipient=recipient)
    if kinds is not None:
        rows = rows.filter(kind__in=[_kind_clean(k) for k in kinds])
    return rows.update(status=Status.CANCELLED, last_error=reason[:300], updated_at=timezone.now())


def _on_call_staff(patient: User) -> list[User]:
    profile = getattr(patient, "patient_profile", None)
    if profile is None or profile.program_id is None:
        return []
    return list(
        User.objects.filter(
            program_staff__program_id=profile.program_id,
            program_staff__on_call=True,
            is_active=True,
        ).distinct()
    )


@transaction.atomic
def safety_alert_raise(
    *,
    event_key: str,
    patient: User,
    context: Mapping[str, Any] | None = None,
    recipients: Iterable[User] | None = None,
    raised_at: dt.datetime | None = None,
) -> list[Outbox]:
    """Alert clinicians about a safety flag on ``patient``, in the caller's transaction.

    ``event_key`` names the flag (``"measures.safetyflag:17"``). ``recipients`` defaults to the
    patient's primary clinician, else every clinician of the patient's program. They get it
    now, by e-mail and in-app (and SMS if they verified a phone), whatever their quiet hours.
    The program's on-call staff (``ProgramStaff.on_call``) get a ``safety_escalation`` due in
    30 minutes unless ``safety_alert_acknowledge(event_key=...)`` is called first (and the
    send-time check sees the flag acknowledged, when the measures app records that).
    The context gets ``patient_id``; the message itself says only that a flag needs review.
    ``raised_at`` (default now) is when the flag opened; the escalation is due 30 min later.
    """
    ctx = dict(context or {})
    ctx.setdefault("patient_id", patient.pk)
    now = min(raised_at, timezone.now()) if raised_at else timezone.now()
    rows: list[Outbox] = []
    targets = list(recipients) if recipients is not None else clinicians_to_alert(patient=patient)
    for clinician in targets:
        rows += notification_schedule(
            recipient=clinician,
            kind=Kind.SAFETY_ALERT,
            event_key=event_key,
            context=ctx,
            due_at=now,
        )
    escalate_at = now + dt.timedelta(minutes=SAFETY_ESCALATION_MINUTES)
    for clinician in _on_call_staff(patient):
        rows += notification_schedule(
            recipient=clinician,
            kind=Kind.SAFETY_ESCALATION,
            event_key=event_key,
            context=ctx,
            due_at=escalate_at,
        )
    return rows


@transaction.atomic
def safety_alert_acknowledge(*, event_key: str) -> int:
    """Stop the pending on-call escalation of a safety alert. Returns rows cancelled."""
    return notifications_cancel(
        event_key=event_key, kinds=[Kind.SAFETY_ESCALATION], reason="acknowledged"
    )


# --- The user's own side: in-app list, preferences, phone, unsubscribe ---------------------

PHONE_CODE_TTL = dt.timedelta(minutes=10)
PHONE_CODE_RESEND_AFTER = dt.timedelta(seconds=60)
PHONE_CODE_MAX_ATTEMPTS = 5
REMINDER_LEAD_CHOICES = (7 * 24 * 60, 2 * 24 * 60, 24 * 60, 4 * 60, 2 * 60, 60, 30, 15)


def _push_unread(user: User) -> None:
    unread = Notification.objects.filter(recipient=user, read_at=None).count()
    send_event_on_commit(
        user_group(user.pk),
        {"type": "user.event", "payload": {"type": "notification.read", "unread": unread}},
    )


@transaction.atomic
def notification_mark_read(*, user: User, notification_id: int) -> bool:
    """Mark one of ``user``'s own notifications read. False if it is not theirs (or gone)."""
    found = notifications_for(user=user).filter(pk=notification_id)
    if not found.exists():
        return False
    found.filter(read_at=None).update(read_at=timezone.now())
    _push_unread(user)
    return True


@transaction.atomic
def notifications_mark_all_read(*, user: User) -> int:
    count = notifications_for(user=user).filter(read_at=None).update(read_at=timezone.now())
    _push_unread(user)
    return count


@transaction.atomic
def notifications_replan(*, user: User, now: dt.datetime | None = None) -> tuple[int, int]:
    """Bring ``user``'s pending notices in line with their channels now: a channel turned on
    (SMS once the phone is verified) gets its row for every pending notice, at the same time
    and with the same content; a channel turned off loses its pending rows. Called whenever
    preferences or the phone change. Returns (rows added, rows cancelled)."""
    now = now or timezone.now()
    pending = list(
        Outbox.objects.select_for_update()
        .filter(recipient=user, status=Status.PENDING, due_at__gt=now)
        .order_by("due_at", "pk")
    )
    prefs = preferences_map(user=user)
    by_notice: dict[tuple[str, str], list[Outbox]] = {}
    for row in pending:
        by_notice.setdefault((row.event_key, row.kind), []).append(row)
    added = cancelled = 0
    for (event_key, kind), rows in by_notice.items():
        enabled = channels_enabled(user=user, kind=kind, prefs=prefs)
        have = {row.channel for row in rows}
        for channel in sorted(enabled - have):
            _outbox_upsert(
                recipient=user,
                kind=kind,
                channel=channel,
                event_key=event_key,
                payload=rows[0].payload,
                due_at=rows[0].due_at,
            )
            added += 1
        for row in rows:
            if row.channel not in enabled:
                row.status, row.last_error = Status.CANCELLED, "channel turned off"
                row.save(update_fields=["status", "last_error", "updated_at"])
                cancelled += 1
    return added, cancelled


@transaction.atomic
def preferences_update(*, user: User, choices: Mapping[tuple[str, str], bool]) -> int:
    """Store ``user``'s choices per (kind, channel). Channels that cannot be switched off
    (safety alerts by e-mail and in-app) are ignored. Returns the number of rows written."""
    written = 0
    for (kind, channel), enabled in choices.items():
        _kind_clean(kind)
        if channel not in Channel.values:
            raise NotificationError(f"Unknown channel {channel!r}.")
        if channel in MANDATORY_CHANNELS.get(kind, frozenset()):
            continue
        Preference.objects.update_or_create(
            user=user, kind=kind, channel=channel, defaults={"enabled": bool(enabled)}
        )
        written += 1
    notifications_replan(user=user)
    return written


def _settings_locked(user: User) -> Any:
    NotificationSettings.objects.get_or_create(user=user)
    return NotificationSettings.objects.select_for_update().get(user=user)


@transaction.atomic
def notification_settings_update(
    *,
    user: User,
    quiet_start: dt.time | None,
    quiet_end: dt.time | None,
    reminder_leads_minutes: Iterable[int],
    checkin_time: dt.time | None,
) -> Any:
    """Quiet hours (both or neither), reminder lead times (from ``REMINDER_LEAD_CHOICES``)
    and the daily check-in time, all wall-clock in the user's own zone."""
    if (quiet_start is None) != (quiet_end is None):
        raise NotificationError("Give both ends of the quiet hours, or neither.")
    leads = sorted({int(v) for v in reminder_leads_minutes}, reverse=True)
    if any(v not in REMINDER_LEAD_CHOICES for v in leads):
        raise NotificationError("Unknown reminder lead time.")
    row = _settings_locked(user)
    row.quiet_start, row.quiet_end = quiet_start, quiet_end
    row.reminder_leads_minutes = leads
    row.checkin_time = checkin_time
    row.save(
        update_fields=[
            "quiet_start",
            "quiet_end",
            "reminder_leads_minutes",
            "checkin_time",
            "updated_at",
        ]
    )
    return row


def _code_hash(user: User, phone: str, code: str) -> str:
    message = f"{user.pk}:{phone}:{code}".encode()
    return hmac.new(str(settings.SECRET_KEY).encode(), message, hashlib.sha256).hexdigest()


def phone_normalise(raw: str) -> str:
    try:
        number = phonenumbers.parse(raw, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise NotificationError("That is not a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise NotificationError("That is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@transaction.atomic
def phone_verification_start(*, user: User, phone: str) -> None:
    """Text a 6-digit code to ``phone`` (after commit). At most one code a minute."""
    e164 = phone_normalise(phone)
    row = _settings_locked(user)
    now = timezone.now()
    if row.verification_sent_at and now - row.verification_sent_at < PHONE_CODE_RESEND_AFTER:
        raise NotificationError("A code was just sent. Wait a minute before asking again.")
    code = f"{secrets.randbelow(1_000_000):06d}"
    row.verification_phone = e164
    row.verification_code_hash = _code_hash(user, e164, code)
    row.verification_sent_at = now
    row.verification_attempts = 0
    row.save(
        update_fields=[
            "verification_phone",
            "verification_code_hash",
            "verification_sent_at",
            "verification_attempts",
            "updated_at",
        ]
    )
    body = f"Virtual IOP: your verification code is {code}. It expires in 10 minutes."

    def _send() -> None:
        try:
            sms.get_backend().send(to=e164, body=body)
        except sms.SmsError:
            logger.warning("verification SMS for user %s failed", user.pk)

    transaction.on_commit(_send)


@transaction.atomic
def phone_verification_confirm(*, user: User, code: str) -> bool:
    """Check the code; on success the phone is verified and SMS can be used."""
    row = _settings_locked(user)
    now = timezone.now()
    if (
        not row.verification_code_hash
        or row.verification_sent_at is None
        or now - row.verification_sent_at > PHONE_CODE_TTL
        or row.verification_attempts >= PHONE_CODE_MAX_ATTEMPTS
    ):
        return False
    row.verification_attempts += 1
    expected = _code_hash(user, row.verification_phone, (code or "").strip())
    if not hmac.compare_digest(expected, row.verification_code_hash):
        row.save(update_fields=["verification_attempts", "updated_at"])
        return False
    row.sms_phone = row.verification_phone
    row.phone_verified_at = now
    row.verification_code_hash = ""
    row.verification_phone = ""
    row.save(
        update_fields=[
            "sms_phone",
            "phone_verified_at",
            "verification_code_hash",
            "verification_phone",
            "verification_attempts",
            "updated_at",
        ]
    )
    notifications_replan(user=user)  # reminders already planned now go by SMS too
    return True


@transaction.atomic
def phone_remove(*, user: User) -> None:
    row = _settings_locked(user)
    row.sms_phone = ""
    row.phone_verified_at = None
    row.save(update_fields=["sms_phone", "phone_verified_at", "updated_at"])
    notifications_replan(user=user)


@transaction.atomic
def unsubscribe_apply(*, token: str) -> tuple[User, str] | None:
    """Turn e-mail off for the reminder kind named in a signed token. Safety alerts are not
    reminder kinds, so a token can never switch them off. None for a bad token."""
    read = unsubscribe_token_read(token)
    if read is None:
        return None
    user_id, kind = read
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or kind in SAFETY_KINDS:
        return None
    preferences_update(user=user, choices={(kind, Channel.EMAIL): False})
    return user, kind


@transaction.atomic
def outbox_retry(*, outbox_ids: Iterable[int]) -> int:
    """Send failed rows again (an admin fixed the address or the provider is back), or rows
    whose outcome is unknown (staff judged a second copy better than none): they go back to
    pending, due now, with a fresh attempt count. Other rows are left alone."""
    return Outbox.objects.filter(
        pk__in=list(outbox_ids), status__in=[Status.FAILED, Status.UNKNOWN]
    ).update(
        status=Status.PENDING,
        attempts=0,
        due_at=timezone.now(),
        claim_token=None,
        last_error="retry requested",
        updated_at=timezone.now(),
    )
