"""Chat messages: stored, then broadcast; catch-up, scroll-back, typing, read markers, hands; risk phrases."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.measures import services as measures_services
from apps.rooms import selectors
from apps.rooms.models import (
    Message,
    MessageKind,
    Participant,
    ParticipantStatus,
    RiskAlert,
    RiskPhrase,
    Room,
)
from apps.rooms.selectors import RoomAccess
from apps.rooms.services.access import _broadcast, _enter, _lock_room, _next_seq, _to_staff
from apps.rooms.services.errors import RoomClosed, RoomError, RoomForbidden
from apps.scheduling.models import Session

TYPING_THROTTLE_SECONDS = 3


def rate_limit() -> tuple[int, int]:
    """(messages, seconds): an author may post that many chat messages in a room in any
    window of that many seconds; e.g. 20 messages per 10 seconds."""
    return (settings.ROOMS_RATE_LIMIT_MESSAGES, settings.ROOMS_RATE_LIMIT_SECONDS)


# Active risk phrases, compiled, kept per process for this long: every patient's chat
# message is matched, and the list changes rarely (in admin). A change made in this process
# applies at once (signals in apps.py); other processes pick it up within this time.
RISK_PHRASES_CACHE_SECONDS = 30.0


_risk_patterns_cache: tuple[float, list[tuple[str, re.Pattern[str]]]] | None = None


def risk_phrases_changed() -> None:
    """Forget the cached phrases (a phrase was saved or deleted)."""
    global _risk_patterns_cache
    _risk_patterns_cache = None


def _risk_patterns() -> list[tuple[str, re.Pattern[str]]]:
    global _risk_patterns_cache
    cached = risk_patterns_cached()
    if cached is not None:
        return cached
    patterns = [
        (
            phrase,
            re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in phrase.split()) + r"(?!\w)"),
        )
        for phrase in RiskPhrase.objects.filter(active=True).values_list("phrase", flat=True)
    ]
    _risk_patterns_cache = (time.monotonic(), patterns)
    return patterns


def risk_patterns_cached() -> list[tuple[str, re.Pattern[str]]] | None:
    """The active risk phrases if this process read them recently, else None (no query)."""
    cached = _risk_patterns_cache
    if cached is not None and time.monotonic() - cached[0] < RISK_PHRASES_CACHE_SECONDS:
        return cached[1]
    return None


def _risk_match(body: str, patterns: list[tuple[str, re.Pattern[str]]] | None = None) -> str | None:
    text = " ".join(body.lower().split())
    for phrase, pattern in patterns if patterns is not None else _risk_patterns():
        if pattern.search(text):
            return phrase
    return None


def risk_phrase_match(text: str) -> str | None:
    """The first active risk phrase in ``text``, else None: the one scan of patient free text
    (group chat, secure messages, check-in notes), so a phrase added in admin reaches all."""
    return _risk_match(text)


def crisis_plan_url(patient: User) -> str | None:
    """Where staff read the patient's crisis (safety) plan, if the enrollment app serves it."""
    for name in ("enrollment:patient_safety_plan",):
        try:
            return reverse(name, kwargs={"patient_id": patient.pk})
        except NoReverseMatch:
            continue
    return None


def _raise_risk_alert(*, message: Message, patient: User, phrase: str, session: Session) -> None:
    """A private alert to the facilitators, in the room (staff group), plus a safety flag in
    the measures app, which alerts the program's clinicians (e-mail/in-app, on-call
    escalation) and is where a clinician acknowledges it. The patient sees nothing different."""
    link = reverse("rooms:room", kwargs={"session_id": session.pk}) + f"#m-{message.pk}"
    flag = measures_services.safety_flag_raise(
        patient=patient,
        program=session.group.program,
        severity="high",
        source="room_message",
        # Ids only: the flag page links back to the room, where the message is.
        reason=f"Crisis phrase in a group chat message (session {session.pk}, "
        f"message {message.pk})",
    )
    alert = RiskAlert.objects.create(
        message=message, patient=patient, phrase=phrase, safety_flag=flag
    )
    audit_record(
        actor=None,
        action=AuditAction.CREATE,
        obj=alert,
        patient=patient,
        detail="risk phrase in group chat",
    )
    try:
        flag_url: str | None = reverse("measures:flag_detail", kwargs={"flag_id": flag.pk})
    except NoReverseMatch:
        flag_url = None
    _to_staff(
        session.pk,
        {
            "type": "risk_alert",
            "alert_id": alert.pk,
            "message_id": message.pk,
            "user": {"id": patient.pk, "name": selectors.display_name(patient)},
            "phrase": phrase,
            "link": link,
            "flag_url": flag_url,
            "crisis_plan_url": crisis_plan_url(patient),
        },
    )


def rate_window(now: dt.datetime) -> tuple[int, dt.datetime]:
    """The chat rate limit: (messages allowed, counted since)."""
    limit, window = rate_limit()
    return limit, now - dt.timedelta(seconds=window)


@transaction.atomic
def room_message_post(
    *, author: User, session_id: int | str, body: str, client_id: str
) -> tuple[dict[str, Any], bool]:
    """Store a chat message, then broadcast it. Returns (message payload, created).

    Idempotent per (room, author, client_id): a resend returns the stored message and
    broadcasts nothing new, even when the author is now muted or over the limit. Refused
    (RoomError) when muted or over the rate limit (``rate_limit()`` chat messages per
    author and room in any window of that many seconds). A message with a risk phrase is
    stored with its alert, so neither is kept without the other."""
    entered = _enter(user=author, session_id=session_id)
    room = _lock_room(entered.room)
    if room.ended_at is not None:
        raise RoomClosed()
    # Read again, locked: a mute or removal that committed (or is committing) since the
    # access check is seen here, never overtaken by a message already on its way.
    assert entered.participant is not None  # _enter: admitted
    participant = Participant.objects.select_for_update(no_key=True).get(pk=entered.participant.pk)
    if participant.status != ParticipantStatus.ADMITTED:
        raise RoomForbidden()
    now = timezone.now()

    def resend_or(error: RoomError) -> tuple[dict[str, Any], bool]:
        stored = Message.objects.filter(room=room, author=author, client_id=client_id).first()
        if stored is None:
            raise error
        stored.author = author
        return selectors.message_payload(stored), False

    if until := selectors.mute_in_force(participant, now=now):
        return resend_or(
            RoomError(
                _("A facilitator has muted you for a few minutes."),
                code="muted",
                until=until.isoformat(),
            )
        )
    body = body.strip()
    if not body:
        raise RoomError(_("The message is empty."), code="invalid_fields")
    limit, since = rate_window(now)
    recent = Message.objects.filter(
        room=room, author=author, kind=MessageKind.CHAT, created_at__gt=since
    ).count()
    if recent >= limit:
        return resend_or(
            RoomError(_("You are sending messages too fast. Wait a few seconds."), "rate_limited")
        )
    message = Message(
        room=room,
        author=author,
        kind=MessageKind.CHAT,
        body=body,
        client_id=client_id,
        created_at=now,
        seq=room.message_seq + 1,
    )
    try:
        with transaction.atomic():  # a savepoint: a resend leaves the transaction usable
            message.save(force_insert=True)
    except IntegrityError:
        return resend_or(RoomError(_("That message could not be stored."), "invalid_fields"))
    _next_seq(room)
    Participant.objects.filter(pk=participant.pk, last_read_message_id__lt=message.pk).update(
        last_read_message_id=message.pk
    )
    payload = selectors.message_payload(message)
    _broadcast(room.session_id, {"type": "message", "message": payload})
    phrase = _risk_match(body) if author.is_patient else None
    if phrase:
        _raise_risk_alert(message=message, patient=author, phrase=phrase, session=entered.session)
    return payload, True


def _audit_staff_read(user: User, room: Room, what: str) -> None:
    """Staff reads of a room's messages are audited (a patient reads their own group's)."""
    if not user.is_patient:
        audit_record(actor=user, action=AuditAction.VIEW, obj=room, detail=what)


def room_sync(*, user: User, session_id: int | str, after: int) -> dict[str, Any]:
    """Catch-up after reconnecting: messages after ``after`` in order (a page of 200; the
    client asks again while ``more``), and which earlier messages were deleted since."""
    entered = _enter(user=user, session_id=session_id)
    rows, more = selectors.messages_after(room=entered.room, after=after)
    _audit_staff_read(user, entered.room, "room catch-up")
    return {
        "type": "messages",
        "v": 1,
        "after": after,
        "messages": [selectors.message_payload(m) for m in rows],
        "more": more,
        "deleted": selectors.deleted_ids(room=entered.room, after=after),
    }


def room_history(*, user: User, session_id: int | str, before: int, limit: int) -> dict[str, Any]:
    """Scroll-back: up to ``limit`` messages before ``before``, oldest first."""
    entered = _enter(user=user, session_id=session_id)
    rows, more = selectors.messages_before(room=entered.room, before=before, limit=limit)
    _audit_staff_read(user, entered.room, "room history page")
    return {
        "type": "history",
        "v": 1,
        "before": before,
        "messages": [selectors.message_payload(m) for m in rows],
        "more": more,
    }


def room_typing(*, user: User, session_id: int | str) -> bool:
    """Broadcast "typing" at most once per 3 seconds per user. Returns whether it did."""
    entered = _enter(user=user, session_id=session_id)
    if not cache.add(
        f"rooms:typing:{entered.session.pk}:{user.pk}", 1, timeout=TYPING_THROTTLE_SECONDS
    ):
        return False
    with transaction.atomic():
        _broadcast(
            entered.session.pk,
            {"type": "typing", "user": {"id": user.pk, "name": selectors.display_name(user)}},
        )
    return True


@transaction.atomic
def room_read(*, user: User, session_id: int | str, message_id: int) -> int:
    """Move the user's read marker forward (never back). Facilitators see it."""
    entered = _enter(user=user, session_id=session_id)
    participant = entered.participant
    assert participant is not None
    if not Message.objects.filter(room=entered.room, pk=message_id).exists():
        raise RoomError(_("No such message in this room."), code="not_found")
    moved = Participant.objects.filter(
        pk=participant.pk, last_read_message_id__lt=message_id
    ).update(last_read_message_id=message_id)
    if moved and not participant.is_facilitator:
        _to_staff(
            entered.session.pk, {"type": "read", "user_id": user.pk, "message_id": message_id}
        )
    return max(participant.last_read_message_id, message_id)


@transaction.atomic
def room_hand(*, user: User, session_id: int | str, raised: bool) -> None:
    entered = _enter(user=user, session_id=session_id)
    participant = entered.participant
    assert participant is not None
    participant.hand_raised_at = timezone.now() if raised else None
    participant.save(update_fields=["hand_raised_at"])
    _broadcast(
        entered.session.pk,
        {
            "type": "hand",
            "user": {"id": user.pk, "name": selectors.display_name(user)},
            "raised": raised,
        },
    )


def room_transcript_read(
    *, viewer: User, access: RoomAccess, before: int | None, limit: int = 100
) -> tuple[Room | None, list[Message], bool]:
    """The read-only history shown on the room page once the room has closed. Reads by
    staff are audited."""
    room = selectors.room_of(access)
    if room is None:
        return None, [], False
    rows, more = selectors.messages_before(room=room, before=before, limit=limit)
    room_transcript_viewed(viewer=viewer, room=room)
    return room, rows, more


def room_transcript_viewed(*, viewer: User, room: Room) -> None:
    """Record a read of the room page's transcript (also when it came from the cache)."""
    _audit_staff_read(viewer, room, "room transcript")
