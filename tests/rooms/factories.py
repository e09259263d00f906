"""Rooms test helpers: a group with one session at a chosen time, built directly."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

from django.utils import timezone

from apps.rooms.models import Message
from apps.scheduling.models import Group, GroupMembership, Session

_names = itertools.count(1)


def make_session(
    program,
    facilitators: Sequence,
    members: Sequence = (),
    *,
    starts_in: dt.timedelta = dt.timedelta(minutes=-5),
    length: dt.timedelta = dt.timedelta(hours=1),
    auto_admit: bool = True,
    status: str = "scheduled",
) -> Session:
    now = timezone.now()
    starts_at = (now + starts_in).replace(microsecond=0)
    local = starts_at.astimezone(program.time_zone)
    group = Group.objects.create(
        program=program,
        name=f"Process Group {next(_names)}",
        kind="process",
        track="evening",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        start_time=local.time(),
        duration_minutes=int(length.total_seconds() // 60),
        start_date=local.date() - dt.timedelta(days=30),
        auto_admit_members=auto_admit,
    )
    group.facilitators.set(facilitators)
    session = Session.objects.create(
        group=group,
        occurrence_date=local.date(),
        starts_at=starts_at,
        ends_at=starts_at + length,
        status=status,
        cancel_reason="Clinician unwell" if status == "cancelled" else "",
    )
    for patient in members:
        add_member(session, patient)
    return session


def add_member(session: Session, patient) -> GroupMembership:
    return GroupMembership.objects.create(
        group=session.group,
        patient=patient,
        from_date=session.occurrence_date - dt.timedelta(days=14),
    )


def add_message(room, **fields) -> Message:
    """A message stored directly in ``room`` with the room's next seq, as the services give
    it out (``services.access._next_seq``)."""
    from apps.rooms.services.access import _next_seq

    room.refresh_from_db(fields=["message_seq"])  # as _lock_room would read it
    return Message.objects.create(room=room, seq=_next_seq(room), **fields)
