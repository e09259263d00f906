"""Who may be in which media room, and when: the chat room's rules for a group session, the
appointment's for a visit. Nothing here talks to Janus."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from apps.rooms import selectors as room_selectors
from apps.rooms.models import Participant, ParticipantStatus
from apps.rooms.selectors import Phase
from apps.scheduling.models import Appointment, AppointmentStatus, Session
from apps.video.models import Seat, VideoRoom, VisitGuest

if TYPE_CHECKING:
    from apps.accounts.models import User

SESSION = "session"
VISIT = "visit"


@dataclasses.dataclass
class Target:
    """One user's view of one media room (not yet a seat)."""

    kind: str  # SESSION or VISIT
    user: User | None  # None for a guest
    session: Session | None
    appointment: Appointment | None
    is_host: bool
    live: bool  # the room is open now
    ended: bool
    closes_at: dt.datetime
    # Group sessions: the chat lobby's word (admitted / waiting / removed); visits decide it
    # on the seat.
    chat_status: str | None = None
    guest: VisitGuest | None = None

    @property
    def who(self) -> dict[str, Any]:
        """The seat lookup for this person: their user, or their guest invitation."""
        return {"guest": self.guest} if self.guest is not None else {"user": self.user}

    @property
    def is_patient(self) -> bool:
        return self.user is not None and bool(self.user.is_patient)

    @property
    def pk(self) -> int:
        obj = self.session if self.kind == SESSION else self.appointment
        assert obj is not None
        return int(obj.pk)

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


def guest_target(*, guest: VisitGuest, now: dt.datetime | None = None) -> Target:
    """A guest's view of their visit: never the host; open while the visit is and the
    invitation stands."""
    now = now or timezone.now()
    appointment = guest.appointment
    room = VideoRoom.objects.filter(appointment=appointment).first()
    ended = (room is not None and room.ended_at is not None) or now >= appointment.join_closes_at
    usable = guest.revoked_at is None and now < guest.expires_at
    return Target(
        kind=VISIT,
        user=None,
        session=None,
        appointment=appointment,
        is_host=False,
        live=appointment.join_is_open(now) and not ended and usable,
        ended=ended or appointment.status == AppointmentStatus.CANCELLED or not usable,
        closes_at=appointment.join_closes_at,
        guest=guest,
    )


def seat_of(target: Target) -> Seat | None:
    room = target.room()
    if room is None:
        return None
    return Seat.objects.filter(room=room, **target.who).first()


def seats(room: VideoRoom) -> list[Seat]:
    return list(
        Seat.objects.filter(room=room).select_related("user", "guest").order_by("created_at")
    )
