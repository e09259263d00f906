"""Lost broadcasts (issue 24, item 11): every message takes its room's next seq, so a client
that sees seq n+2 after n knows a broadcast was lost and asks for it with ``sync``."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections, transaction

from apps.rooms import services
from apps.rooms.models import Connection, Message, Room, SystemEvent
from apps.rooms.services import access as room_access
from tests.redisserver import RedisServer
from tests.rooms.conftest import connect
from tests.waiting import await_until


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
    """Chat and system messages written at once from several connections: each gets the
    next seq under the room's row lock, in the order of the ids, with no hole."""
    monkeypatch.setattr(settings, "ROOMS_RATE_LIMIT_MESSAGES", 1000)
    _join(patient, live_session)
    _join(member2, live_session)
    room = Room.objects.get(session=live_session)
    errors: list[BaseException] = []

    def chat(user, tag: str) -> None:
        try:
            for i in range(20):
                _, created = services.room_message_post(
                    author=user, session_id=live_session.pk, body="hi", client_id=f"{tag}{i}"
                )
                assert created
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def system() -> None:
        try:
            for _ in range(20):
                with transaction.atomic():
                    locked = room_access._lock_room(room)
                    time.sleep(0.005)  # chat statements begin meanwhile and wait for the lock
                    room_access._system_message(locked, SystemEvent.LOCKED)
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


# --- Over the socket: a dropped broadcast, and a channel layer that fails -----------------------

db = sync_to_async


@pytest.fixture
def drop_broadcast(monkeypatch):
    """``drop_broadcast(body)``: the broadcast of the chat message with that body is lost on
    its way."""
    from apps.core import events

    dropped: set[str] = set()
    lost: list[int] = []

    def is_dropped(event: dict) -> bool:
        text = json.loads(event.get("text") or "{}")
        message = text.get("message") or {}
        if text.get("type") == "message" and message.get("body") in dropped:
            lost.append(message["id"])
            return True
        return False

    real_send = events.group_send_now

    def group_send_now(group, event):
        if not is_dropped(event):
            real_send(group, event)

    monkeypatch.setattr(events, "group_send_now", group_send_now)

    def drop(body: str) -> list[int]:
        dropped.add(body)
        return lost

    return drop


@pytest.fixture
def layer_down(monkeypatch):
    """``layer_down(True)``: the channel layer refuses every publish and subscription, as
    when Redis has died (subscriptions already made stay, as Redis' come back with it);
    ``layer_down(False)``: it works again."""
    from channels.layers import get_channel_layer
    from redis.exceptions import ConnectionError as RedisConnectionError

    layer = get_channel_layer()
    real = {name: getattr(layer, name) for name in ("group_send", "group_add", "new_channel")}

    async def refuse(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    def down(is_down: bool) -> None:
        for name, method in real.items():
            monkeypatch.setattr(layer, name, refuse if is_down else method)

    yield down
    for name in real:
        monkeypatch.delattr(layer, name, raising=False)


async def _messages_until(client, body: str) -> list[dict]:
    """Every message frame up to and including the chat message with ``body``."""
    got = []
    while True:
        message = (await client.expect("message"))["message"]
        got.append(message)
        if message.get("body") == body:
            return got


@pytest.mark.django_db(transaction=True)
async def test_a_lost_broadcast_shows_as_a_seq_gap_and_sync_returns_it(
    live_session, patient, member2, drop_broadcast
):
    reader = await connect(live_session.pk, patient)
    writer = await connect(live_session.pk, member2)
    lost = drop_broadcast("lost on the way")
    await writer.send(type="send", client_id="w1", body="lost on the way")
    first = await writer.expect("ack", client_id="w1")
    await writer.send(type="send", client_id="w2", body="next one")
    second = await writer.expect("ack", client_id="w2")
    assert lost == [first["id"]]
    assert second["message"]["seq"] == first["message"]["seq"] + 1

    # The reader holds everything up to the writer's "joined", then hears seq + 2.
    heard = await _messages_until(reader, "next one")
    assert [m["body"] for m in heard if m["kind"] == "chat"] == ["next one"]
    held = heard[-2]
    assert heard[-1]["seq"] == held["seq"] + 2  # the client sees the gap
    await reader.send(type="sync", after=held["id"])
    batch = await reader.expect("messages")
    assert [m["body"] for m in batch["messages"]] == ["lost on the way", "next one"]
    assert [m["seq"] for m in batch["messages"]] == [held["seq"] + 1, held["seq"] + 2]
    assert batch["more"] is False
    await reader.close()
    await writer.close()


@pytest.mark.django_db(transaction=True)
async def test_messages_posted_while_the_layer_fails_are_kept_and_reach_members_after(
    live_session, patient, member2, clinician, layer_down, caplog
):
    """Redis dies mid-chat: the sender's messages are stored and acknowledged (no closed
    socket), their broadcasts logged as lost; the members who stayed connected, facilitator
    included, learn of them from the next pong's seq, or from the seq of the next message
    once Redis is back, and fetch them with sync, in order."""
    fac = await connect(live_session.pk, clinician)
    reader = await connect(live_session.pk, patient)
    writer = await connect(live_session.pk, member2)
    for client in (fac, reader):
        # The writer's "joined" is the last broadcast so far: once it is here, nothing sent
        # before the layer goes down is still on its way (pub/sub keeps order).
        while (await client.expect_system("joined"))["subject"]["id"] != member2.pk:
            pass
        await client.send(type="ping")
        client.first["held_seq"] = (await client.expect("pong"))["seq"]
    layer_down(True)
    acks = []
    for n in (1, 2):
        await writer.send(type="send", client_id=f"d{n}", body=f"while down {n}")
        acks.append(await writer.expect("ack", client_id=f"d{n}"))
    assert [a["duplicate"] for a in acks] == [False, False]
    assert await db(Message.objects.filter(body__startswith="while down").count)() == 2
    assert await reader.nothing_of("message")
    assert f"broadcast to room.{live_session.pk} lost" in caplog.text
    assert "while down" not in caplog.text  # ids only in the log

    # Still down: the pong tells each member the room's newest seq.
    for client in (fac, reader):
        await client.send(type="ping")
        pong = await client.expect("pong")
        assert pong["seq"] == acks[-1]["message"]["seq"] > client.first["held_seq"]

    layer_down(False)
    await writer.send(type="send", client_id="d3", body="back again")
    await writer.expect("ack", client_id="d3")
    for client in (fac, reader):
        heard = await _messages_until(client, "back again")
        held = [m for m in heard if m["seq"] <= client.first["held_seq"]]
        after = held[-1]["id"] if held else 0
        assert heard[-1]["seq"] > client.first["held_seq"] + 1  # a gap
        await client.send(type="sync", after=after)
        batch = await client.expect("messages")
        bodies = [m["body"] for m in batch["messages"] if m["kind"] == "chat"]
        assert bodies == ["while down 1", "while down 2", "back again"]
        seqs = [m["seq"] for m in batch["messages"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for client in (fac, reader, writer):
        await client.close()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_opened_while_the_layer_is_down_is_told_and_closed_to_retry(
    live_session, patient, layer_down
):
    from tests.rooms.conftest import communicator_for, session_for

    layer_down(True)
    store = await db(session_for)(patient)
    comm = communicator_for(live_session.pk, store)
    connected, _ = await comm.connect()
    assert connected
    frame = await comm.receive_json_from(timeout=3)
    assert frame["type"] == "error" and frame["code"] == "live_unavailable"
    assert "keep trying" in frame["message"]
    close = await comm.receive_output(timeout=3)
    assert close == {"type": "websocket.close", "code": 4503}
    await comm.disconnect()
    assert not await db(Connection.objects.filter(room__session=live_session).exists)()
    layer_down(False)
    client = await connect(live_session.pk, patient)  # and later it works
    assert client.first["type"] == "welcome"
    await client.close()


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.kill()


@pytest.mark.django_db(transaction=True)
async def test_redis_killed_mid_chat_loses_no_stored_message(
    live_session, clinician, patient, member2, redis_server, settings
):
    """The attack run of item 11, with a real Redis killed mid-chat and started again: the
    two messages stored while it was dead reach the members who stayed connected,
    facilitator included (the next message shows the gap; sync fills it), in order."""
    redis_server.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": redis_server.url, "socket_connect_timeout": 1}],
                "prefix": f"kill{uuid.uuid4().hex[:8]}",
            },
        }
    }
    fac = await connect(live_session.pk, clinician)
    reader = await connect(live_session.pk, patient)
    writer = await connect(live_session.pk, member2)
    await writer.send(type="send", client_id="k0", body="before")
    held = {}
    for client in (fac, reader):
        held[client] = (await _messages_until(client, "before"))[-1]

    subscribed = _subscriptions(redis_server.url)
    assert subscribed  # the sockets' channels and the room's group
    redis_server.kill()
    for n in (1, 2):
        await writer.send(type="send", client_id=f"k{n}", body=f"while dead {n}")
        assert (await writer.expect("ack", client_id=f"k{n}", timeout=10))["duplicate"] is False

    redis_server.start()

    async def subscribed_again() -> bool:  # the layer's receiver reconnects and subscribes
        return _subscriptions(redis_server.url) >= subscribed

    await await_until(subscribed_again, timeout=15, what="the layer to subscribe again")
    await writer.send(type="send", client_id="k3", body="after")
    await writer.expect("ack", client_id="k3", timeout=10)
    for client in (fac, reader):
        heard = await _messages_until(client, "after")
        assert [m["body"] for m in heard] == ["after"]
        assert heard[0]["seq"] == held[client]["seq"] + 3  # two missing: the client syncs
        await client.send(type="sync", after=held[client]["id"])
        batch = await client.expect("messages")
        assert [m["body"] for m in batch["messages"]] == ["while dead 1", "while dead 2", "after"]
    for client in (fac, reader, writer):
        await client.close()


def _subscriptions(url: str) -> set[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return set(client.pubsub_channels())
    finally:
        client.close()
