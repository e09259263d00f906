"""Who may act in a live room now (``_enter``), and how a room's writes are told to its sockets."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.core.events import send_event_on_commit
from apps.rooms import selectors
from apps.rooms.models import (
    Message,
    MessageKind,
    Participant,
    ParticipantStatus,
    Room,
    room_group,
)
from apps.rooms.selectors import Phase, RoomAccess
from apps.rooms.services.errors import RoomClosed, RoomError, RoomForbidden
from apps.scheduling.models import Session


@dataclass
class Entered:
    access: RoomAccess
    room: Room
    participant: Participant | None

    @property
    def session(self) -> Session:
        return self.access.session


def room_get_or_create(*, session: Session) -> Room:
    room = Room.objects.filter(session=session).first()
    if room is not None:
        return room
    try:
        with transaction.atomic():
            return Room.objects.create(session=session)
    except IntegrityError:  # created concurrently
        return Room.objects.get(session=session)


def _lock_room(room: Room) -> Room:
    """Serialise writes that allocate message ids in this room (see the module doc)."""
    return Room.objects.select_for_update().get(pk=room.pk)


def _enter(
    *, user: User, session_id: int | str, facilitator: bool = False, admitted: bool = True
) -> Entered:
    """Check that ``user`` may act in the live room now; raise RoomForbidden/RoomClosed."""
    access = selectors.room_access(user=user, session_id=session_id)
    if access is None or not access.may_join_live:
        raise RoomForbidden()
    if facilitator and not access.is_facilitator:
        raise RoomError(_("Only a facilitator can do that."), code="not_facilitator")
    room = access.room or room_get_or_create(session=access.session)
    if selectors.room_phase(session=access.session, room=room) != Phase.LIVE:
        raise RoomClosed()
    participant = access.participant
    if admitted and (participant is None or participant.status != ParticipantStatus.ADMITTED):
        raise RoomError(_("You are waiting to be admitted."), code="not_admitted")
    return Entered(access=access, room=room, participant=participant)


def room_check(*, user: User, session_id: int | str) -> RoomAccess:
    """The connect-time check: may ``user`` open a socket to this room now?"""
    entered = _enter(user=user, session_id=session_id, admitted=False)
    return entered.access


def _event(session_id: int, payload: dict[str, Any], *, staff: bool = False) -> dict[str, Any]:
    """A room broadcast carries its frame already encoded: each socket that gets it sends
    the text as it is (encoding it once per socket was 5% of a daphne process's time under
    the fan-out benchmark, bench/RESULTS.md, ninth pass). ``room`` tells each process's room
    hub which room it is for (consumers.RoomHub); ``staff``: for facilitators only."""
    event: dict[str, Any] = {
        "type": "room.event",
        "room": session_id,
        "text": json.dumps({"v": 1, **payload}),
    }
    if staff:
        event["staff"] = True
    return event


# Everything for a room goes to its one group, in the order it was sent: broadcasts, the
# facilitators' events and each user's control events (admitted, removed, muted, ended). A
# process subscribes to the group once and hands each event to the sockets it is for, so a
# control event never overtakes, nor is overtaken by, the room's broadcasts.
def _broadcast(session_id: int, payload: dict[str, Any]) -> None:
    send_event_on_commit(room_group(session_id), _event(session_id, payload))


def _to_staff(session_id: int, payload: dict[str, Any]) -> None:
    send_event_on_commit(room_group(session_id), _event(session_id, payload, staff=True))


def _control(session_id: int, user_id: int | None, action: str, **data: Any) -> None:
    """A control event for one user's sockets in the room (every socket's if ``user_id`` is
    None), lobby sockets included."""
    send_event_on_commit(
        room_group(session_id),
        {"type": "room.control", "room": session_id, "user_id": user_id, "action": action, **data},
    )


def _next_seq(room: Room) -> int:
    """Give out the room's next message ``seq``. ``room`` is as ``_lock_room`` read it, in
    the transaction that stores the message: a rollback gives the number back, so seqs
    have no holes."""
    room.message_seq += 1
    Room.objects.filter(pk=room.pk).update(message_seq=room.message_seq)
    return room.message_seq


def _system_message(
    room: Room, event: str, *, subject: User | None = None, now: dt.datetime | None = None
) -> Message:
    """Store then broadcast a system message. The caller holds the room lock."""
    message = Message.objects.create(
        room=room,
        kind=MessageKind.SYSTEM,
        system_event=event,
        subject=subject,
        created_at=now or timezone.now(),
        seq=_next_seq(room),
    )
    _broadcast(room.session_id, {"type": "message", "message": selectors.message_payload(message)})
    return message
