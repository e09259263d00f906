"""Facilitators' actions in a live room; every one is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.rooms import selectors
from apps.rooms.models import (
    Connection,
    Message,
    MessageKind,
    Participant,
    ParticipantStatus,
    SystemEvent,
)
from apps.rooms.services.access import (
    Entered,
    _broadcast,
    _control,
    _enter,
    _lock_room,
    _system_message,
    _to_staff,
)
from apps.rooms.services.errors import RoomError
from apps.rooms.services.presence import _broadcast_lobby, _broadcast_presence, _record_attendance


def _target(entered: Entered, user_id: int) -> Participant:
    target = (
        Participant.objects.select_related("user")
        .filter(room=entered.room, user_id=user_id, is_facilitator=False)
        .first()
    )
    if target is None:
        raise RoomError(_("That person is not in this room."), code="not_found")
    return target


def _moderation_audit(by: User, obj: Any, patient: User | None, detail: str) -> None:
    audit_record(actor=by, action=AuditAction.MODERATE, obj=obj, patient=patient, detail=detail)


def _admit(entered: Entered, target: Participant, by: User, now: dt.datetime) -> None:
    room = entered.room
    access = selectors.room_access(user=target.user, session_id=entered.session.pk)
    if access is None or not access.is_member:
        raise RoomError(_("That person is no longer a member of this group."), code="not_member")
    target.status = ParticipantStatus.ADMITTED
    target.admitted_at = now
    target.admitted_by = by
    target.save(update_fields=["status", "admitted_at", "admitted_by"])
    # Attendance starts at admission, not at arrival in the lobby.
    Connection.objects.filter(room=room, user=target.user).update(joined_at=now)
    _system_message(room, SystemEvent.ADMITTED, subject=target.user, now=now)
    _record_attendance(entered.session, target.user, now, None)
    _control(entered.session.pk, target.user_id, "admitted")
    _moderation_audit(by, target, target.user, "room admit")


@transaction.atomic
def room_admit(*, by: User, session_id: int | str, user_id: int) -> None:
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    entered.room = room
    target = _target(entered, user_id)
    if target.status != ParticipantStatus.WAITING:
        raise RoomError(_("That person is not waiting in the lobby."), code="not_waiting")
    _admit(entered, target, by, timezone.now())
    _broadcast_lobby(room)
    _broadcast_presence(room)


@transaction.atomic
def room_admit_all(*, by: User, session_id: int | str) -> int:
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    entered.room = room
    now = timezone.now()
    waiting_ids = [p["id"] for p in selectors.lobby(room=room, now=now)]
    count = 0
    for target in Participant.objects.select_related("user").filter(
        room=room, user_id__in=waiting_ids, status=ParticipantStatus.WAITING
    ):
        try:
            _admit(entered, target, by, now)
        except RoomError:
            continue  # no longer a member: stays out
        count += 1
    _broadcast_lobby(room)
    _broadcast_presence(room)
    return count


@transaction.atomic
def room_message_delete(*, by: User, session_id: int | str, message_id: int) -> None:
    """Tombstone a message: hidden from everyone, kept (body included) for the audit trail."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    message = (
        Message.objects.select_for_update(of=("self",))
        .filter(room=entered.room, pk=message_id, kind=MessageKind.CHAT)
        .select_related("author")
        .first()
    )
    if message is None:
        raise RoomError(_("No such message in this room."), code="not_found")
    if message.deleted_at is not None:
        return
    message.deleted_at = timezone.now()
    message.deleted_by = by
    message.save(update_fields=["deleted_at", "deleted_by"])
    _moderation_audit(
        by,
        message,
        message.author if message.author and message.author.is_patient else None,
        "room message deleted",
    )
    _broadcast(entered.session.pk, {"type": "deleted", "message_id": message.pk})


@transaction.atomic
def room_member_mute(*, by: User, session_id: int | str, user_id: int, minutes: int) -> None:
    """Mute a member for ``minutes`` (0 lifts the mute)."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    target = _target(entered, user_id)
    until = timezone.now() + dt.timedelta(minutes=minutes) if minutes else None
    target.muted_until = until
    target.save(update_fields=["muted_until"])
    _moderation_audit(by, target, target.user, f"room mute {minutes} min")
    iso = until.isoformat() if until else None
    _control(entered.session.pk, user_id, "muted", until=iso)
    # Only the facilitators hear of it: a mute is not announced to the group.
    _to_staff(
        entered.session.pk,
        {
            "type": "muted",
            "user": {"id": user_id, "name": selectors.display_name(target.user)},
            "until": iso,
        },
    )


@transaction.atomic
def room_member_remove(*, by: User, session_id: int | str, user_id: int) -> None:
    """Remove a member from this session: their sockets close and they cannot come back."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    target = _target(entered, user_id)
    if target.status == ParticipantStatus.REMOVED:
        return
    now = timezone.now()
    target.status = ParticipantStatus.REMOVED
    target.removed_at = now
    target.removed_by = by
    target.save(update_fields=["status", "removed_at", "removed_by"])
    _system_message(room, SystemEvent.REMOVED, subject=target.user, now=now)
    _moderation_audit(by, target, target.user, "room member removed")
    _control(entered.session.pk, user_id, "removed")
    _broadcast_lobby(room)


@transaction.atomic
def room_lock(*, by: User, session_id: int | str, locked: bool) -> None:
    """A locked room lets nobody new in automatically: newcomers wait in the lobby."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    if room.locked == locked:
        return
    room.locked = locked
    room.locked_by = by if locked else None
    room.save(update_fields=["locked", "locked_by"])
    _moderation_audit(by, room, None, "room locked" if locked else "room unlocked")
    _system_message(room, SystemEvent.LOCKED if locked else SystemEvent.UNLOCKED)
    _broadcast(room.session_id, {"type": "locked", "locked": locked})


@transaction.atomic
def room_pin(*, by: User, session_id: int | str, body: str) -> None:
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    text = body.strip()
    room.pinned_text = text
    room.pinned_by = by if text else None
    room.pinned_at = timezone.now() if text else None
    room.save(update_fields=["pinned_text", "pinned_by", "pinned_at"])
    _moderation_audit(by, room, None, "room pin" if text else "room unpin")
    _broadcast(
        room.session_id,
        {
            "type": "pinned",
            "pinned": {"text": text, "at": room.pinned_at.isoformat()}
            if text and room.pinned_at
            else None,
        },
    )


@transaction.atomic
def room_end(*, by: User, session_id: int | str) -> None:
    """End the session now: the room becomes read-only history and every socket closes."""
    entered = _enter(user=by, session_id=session_id, facilitator=True)
    room = _lock_room(entered.room)
    now = timezone.now()
    _system_message(room, SystemEvent.ENDED, now=now)
    room.ended_at = now
    room.ended_by = by
    room.save(update_fields=["ended_at", "ended_by"])
    _moderation_audit(by, room, None, "room ended")
    _control(room.session_id, None, "ended")
