"""Lost broadcasts (issue 24, item 11): every message takes its room's next seq, so a client
that sees seq n+2 after n knows a broadcast was lost and asks for it with ``sync``."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction
from django.utils import timezone

from apps.rooms import services
from apps.rooms.models import Message, Room, SystemEvent


def _join(user, session) -> None:
    services.room_connect(user=user, session_id=session.pk, channel_name=f"test-{user.pk}")


def _seqs(room) -> list[tuple[int, int]]:
    return list(Message.objects.filter(room=room).order_by("id").values_list("id", "seq"))


@pytest.mark.django_db
def test_every_message_takes_the_rooms_next_seq_and_refusals_take_none(
    live_session, patient, member2, settings
):
    settings.ROOMS_RATE_LIMIT_MESSAGES = 2
    _join(patient, live_session)  # "joined": seq 1
    services.room_message_post(author=patient, session_id=live_session.pk, body="a", client_id="a")
    again, created = services.room_message_post(
        author=patient, session_id=live_session.pk, body="a", client_id="a"
    )
    assert created is False and again["seq"] == 2  # a resend is the same message
    services.room_message_post(author=patient, session_id=live_session.pk, body="b", client_id="b")
    with pytest.raises(services.RoomError):  # over the limit: nothing stored
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="c", client_id="c"
        )
    _join(member2, live_session)  # "joined": seq 4
    room = Room.objects.get(session=live_session)
    assert [seq for _, seq in _seqs(room)] == [1, 2, 3, 4]
    assert room.message_seq == 4
    ids = [pk for pk, _ in _seqs(room)]
    assert ids == sorted(ids)


@pytest.mark.django_db
def test_a_full_save_of_a_room_read_earlier_keeps_its_seq(live_session, patient):
    """The admin saves every field of a room it read: the seq counter is never written back,
    else the next message would be given a seq already taken."""
    _join(patient, live_session)
    stale = Room.objects.get(session=live_session)
    services.room_message_post(author=patient, session_id=live_session.pk, body="a", client_id="a")
    stale.pinned_text = "Be kind"
    stale.save()
    room = Room.objects.get(session=live_session)
    assert room.pinned_text == "Be kind"
    assert room.message_seq == 2
    services.room_message_post(author=patient, session_id=live_session.pk, body="b", client_id="b")
    assert [seq for _, seq in _seqs(room)] == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_seqs_with_no_hole_in_id_order(
    live_session, patient, member2, monkeypatch
):
    """Chat messages (PostgreSQL: the one-statement insert, which reads the seq inside the
    statement that waits for the room's lock) and system messages (the ORM) written at once,
    without the order lock: each gets the next seq, in the order of the ids."""
    monkeypatch.setattr(services, "rate_limit", lambda: (1000, 10))
    _join(patient, live_session)
    _join(member2, live_session)
    room = Room.objects.get(session=live_session)
    participants = {p.user_id: p for p in room.participants.all()}
    errors: list[BaseException] = []

    def chat(user, tag: str) -> None:
        try:
            for i in range(20):
                message = Message(
                    room=room,
                    author=user,
                    kind="chat",
                    body="hi",
                    client_id=f"{tag}{i}",
                    created_at=timezone.now(),
                )
                assert services._store_chat_message(message, participants[user.pk]) == "new"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def system() -> None:
        try:
            for _ in range(20):
                with transaction.atomic():
                    locked = services._lock_room(room)
                    time.sleep(0.005)  # chat statements begin meanwhile and wait for the lock
                    services._system_message(locked, SystemEvent.LOCKED)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=chat, args=(patient, "a")),
        threading.Thread(target=chat, args=(member2, "b")),
        threading.Thread(target=system),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    rows = _seqs(room)
    assert [seq for _, seq in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == 2 + 60
    room.refresh_from_db()
    assert room.message_seq == len(rows)
