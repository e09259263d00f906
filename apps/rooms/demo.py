"""Demo data for rooms: the default crisis-phrase list and a few messages in the live
session the scheduling seed makes (patients 1-8, clinician1 facilitating). Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.rooms.models import Message, MessageKind, Participant, ParticipantStatus, RiskPhrase
from apps.rooms.selectors import Phase, room_phase
from apps.rooms.services.access import _lock_room, _next_seq, room_get_or_create
from apps.scheduling.models import Session

DEFAULT_RISK_PHRASES = [
    "kill myself",
    "end it all",
    "overdose",
    "want to die",
    "suicide",
    "better off dead",
    "hurt myself",
    "no reason to live",
    "can't go on",
    "relapse tonight",
]

DEMO_MESSAGES = [
    (
        "clinician1@demo.test",
        "Welcome, everyone. Let's start with a quick check-in: one word for today.",
    ),
    ("patient1@demo.test", "Tired, but here."),
    ("patient2@demo.test", "Hopeful. I used the urge-surfing skill twice this week."),
    ("patient3@demo.test", "Anxious. Work has been a lot."),
    ("clinician1@demo.test", "Thank you. Let's come back to work stress in a moment."),
]


def seed(stdout: Any) -> None:
    for phrase in DEFAULT_RISK_PHRASES:
        RiskPhrase.objects.get_or_create(phrase=phrase)
    now = timezone.now()
    session = (
        Session.objects.filter(
            group__facilitators__email="clinician1@demo.test",
            starts_at__lte=now + dt.timedelta(minutes=15),
            ends_at__gt=now,
            status="scheduled",
        )
        .select_related("group")
        .order_by("starts_at")
        .first()
    )
    if session is None:
        stdout.write("  rooms: no live demo session found; skipped messages\n")
        return
    room = room_get_or_create(session=session)
    if room_phase(session=session, room=room) != Phase.LIVE:
        room.ended_at = None
        room.save(update_fields=["ended_at"])
    people = {u.email: u for u in User.objects.filter(email__in={e for e, _ in DEMO_MESSAGES})}
    for index, (email, body) in enumerate(DEMO_MESSAGES):
        author = people.get(email)
        if author is None:
            continue
        with transaction.atomic():  # the room's lock: the message takes the next seq
            locked = _lock_room(room)
            if not Message.objects.filter(
                room=room, author=author, client_id=f"demo-{index}"
            ).exists():
                Message.objects.create(
                    room=room,
                    author=author,
                    client_id=f"demo-{index}",
                    kind=MessageKind.CHAT,
                    body=body,
                    created_at=now - dt.timedelta(minutes=len(DEMO_MESSAGES) - index),
                    seq=_next_seq(locked),
                )
        Participant.objects.update_or_create(
            room=room,
            user=author,
            defaults={
                "status": ParticipantStatus.ADMITTED,
                "is_facilitator": not author.is_patient,
                "admitted_at": now,
            },
        )
    stdout.write(
        f"  rooms: {len(DEFAULT_RISK_PHRASES)} risk phrases; live room /rooms/{session.pk}/\n"
    )
