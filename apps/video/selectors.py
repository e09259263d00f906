"""Who may be in which media room, and when: the chat room's rules for a group session, the
appointment's for a visit. Nothing here talks to Janus."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from apps.rooms import selectors as room_selectors
from apps.rooms.models import Participant, ParticipantStatus
from apps.rooms.selectors import Phase
from apps.scheduling.models import Appointment, AppointmentStatus, Session
from apps.video.models import Seat, SeatStatus, VideoRoom

if TYPE_CHECKING:
    from apps.accounts.models import User

SESSION = "session"
VISIT = "visit"


@dataclasses.dataclass
class Target:
    """One user's view of one media room (not yet a seat)."""

    kind: str  # SESSION or VISIT
    user: User
    session: Session | None
    appointment: Appointment | None
    is_host: bool
    live: bool  # the room is open now
    ended: bool
    closes_at: dt.datetime
    # Group sessions: the chat lobby's word (admitted / waiting / removed); visits decide it
    # on the seat.
    chat_status: str | None = None

    @property
    def pk(self) -> int:
        obj = self.session if self.kind == SESSION else self.appointment
        assert obj is not None
        return int(obj.pk)

    @property
    def program_id(self) -> int:
        if self.session is not None:
            return int(self.session.group.program_id)
        assert self.appointment is not None
        return int(self.appointment.program_id)

    def room(self) -> VideoRoom | None:
        if self.kind == SESSION:
            return VideoRoom.objects.filter(session=self.session).first()
        return VideoRoom.objects.filter(appointment=self.appointment).first()


def video_enabled() -> bool:
    return bool(settings.VIDEO_ENABLED)


def session_target(*, user: User, session_id: int) -> Target | None:
    """The group session's media room as ``user`` may use it; None when they may not know it."""
    access = room_selectors.room_access(user=user, session_id=session_id)
    if access is None:
        return None
    session = access.session
    chat_room = room_selectors.room_of(access)
    phase = room_selectors.room_phase(session=session, room=chat_room)
    chat_status = None
    if chat_room is not None:
        chat_status = (
            Participant.objects.filter(room=chat_room, user=user)
            .values_list("status", flat=True)
            .first()
        )
    return Target(
        kind=SESSION,
        user=user,
        session=session,
        appointment=None,
        is_host=access.is_facilitator,
        live=phase == Phase.LIVE and access.may_join_live,
        ended=phase != Phase.LIVE and phase != Phase.NOT_OPEN,
        closes_at=room_selectors.room_live_until(session=session),
        chat_status=ParticipantStatus.ADMITTED if access.is_facilitator else chat_status,
    )


def visit_target(
    *, user: User, appointment_id: int, now: dt.datetime | None = None
) -> Target | None:
    """A 1:1 visit: its patient and its clinician only."""
    now = now or timezone.now()
    appointment = (
        Appointment.objects.select_related("patient", "clinician", "program")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None or user.pk not in (appointment.patient_id, appointment.clinician_id):
        return None
    room = VideoRoom.objects.filter(appointment=appointment).first()
    closes = appointment.join_closes_at
    ended = (room is not None and room.ended_at is not None) or now >= closes
    return Target(
        kind=VISIT,
        user=user,
        session=None,
        appointment=appointment,
        is_host=user.pk == appointment.clinician_id,
        live=appointment.join_is_open(now) and not ended,
        ended=ended or appointment.status == AppointmentStatus.CANCELLED,
        closes_at=closes,
    )


def seat_of(target: Target) -> Seat | None:
    room = target.room()
    if room is None:
        return None
    return Seat.objects.filter(room=room, user=target.user).first()


def seats(room: VideoRoom) -> list[Seat]:
    return list(Seat.objects.filter(room=room).select_related("user").order_by("created_at"))


def seat_admitted(seat: Seat) -> bool:
    return seat.status == SeatStatus.ADMITTED
