"""Chat messages posted on the socket's event loop (apps.rooms.loop_post, PostgreSQL): the
common path never takes a worker thread; everything else falls back to the service, which
answers it; the room's order lock never outlives a post."""

from __future__ import annotations

import asyncio
import random

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from apps.rooms import loop_post, services
from apps.rooms.models import Message, Participant, RiskAlert, RiskPhrase
from tests.rooms.conftest import connect

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the loop's connections are PostgreSQL's"
    ),
]

db = sync_to_async


def _advisory_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def thread_posts(monkeypatch):
    """The chat messages the service posted in a thread (the loop's fallback)."""
    calls: list[str] = []
    real = services.room_message_post

    def counting(**kwargs):
        calls.append(kwargs["body"])
        return real(**kwargs)

    monkeypatch.setattr(services, "room_message_post", counting)
    return calls


async def _warm(sender) -> None:
    """A first message reads the risk phrases (in a thread); the next ones can use the loop."""
    await sender.send(type="send", client_id="warm", body="hello")
    await sender.expect("ack", client_id="warm")


async def test_a_chat_message_is_stored_and_broadcast_without_a_thread(
    live_session, clinician, patient, member2, thread_posts
):
    sender = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    fac = await connect(live_session.pk, clinician)
    await _warm(sender)
    for client in (other, fac):
        await client.expect_chat()
    thread_posts.clear()

    await sender.send(type="send", client_id="loop-1", body="  on the loop  ")
    ack = await sender.expect("ack", client_id="loop-1")
    assert ack["duplicate"] is False
    for client in (other, fac):
        chat = await client.expect_chat()
        assert chat["id"] == ack["id"]
        assert chat["body"] == "on the loop"
        assert chat["author"] == {"id": patient.pk, "name": "Pat", "staff": False}
    stored = await db(Message.objects.get)(pk=ack["id"])
    assert (stored.body, stored.client_id, stored.author_id) == (
        "on the loop",
        "loop-1",
        patient.pk,
    )
    # The author's read marker moved past it, as the service does.
    marker = await db(lambda: Participant.objects.get(user=patient).last_read_message_id)()
    assert marker == ack["id"]
    # A facilitator's message too (the staff side of the access rule).
    await fac.send(type="send", client_id="fac-1", body="welcome")
    fac_ack = await fac.expect("ack", client_id="fac-1")
    assert (await other.expect_chat())["author"]["staff"] is True
    assert fac_ack["duplicate"] is False
    assert thread_posts == []
    assert await db(_advisory_locks)() == 0
    for client in (sender, other, fac):
        await client.close()


async def test_with_the_loop_turned_off_the_service_posts_every_message(
    live_session, patient, member2, thread_posts, settings
):
    settings.ROOMS_CHAT_ON_LOOP = False
    sender = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await _warm(sender)
    await sender.send(type="send", client_id="t-1", body="through a thread")
    await sender.expect("ack", client_id="t-1")
    assert (await other.expect_chat())["body"] == "hello"
    assert (await other.expect_chat())["body"] == "through a thread"
    assert thread_posts == ["hello", "through a thread"]
    await sender.close()
    await other.close()


async def test_off_the_common_path_the_service_answers(
    live_session, clinician, patient, member2, thread_posts, settings
):
    """A resend, a risk phrase, a mute and the rate limit: the loop writes nothing and the
    service gives the answer (each once)."""
    settings.ROOMS_RATE_LIMIT_MESSAGES = 3
    await db(RiskPhrase.objects.create)(phrase="no way out")
    sender = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    fac = await connect(live_session.pk, clinician)
    await _warm(sender)
    await other.expect_chat()
    thread_posts.clear()

    await sender.send(type="send", client_id="warm", body="hello")  # a resend
    assert (await sender.expect("ack", client_id="warm"))["duplicate"] is True
    await sender.send(type="send", client_id="risk", body="I see no way out")
    await sender.expect("ack", client_id="risk")
    assert (await fac.expect("risk_alert"))["phrase"] == "no way out"
    assert await db(RiskAlert.objects.count)() == 1
    await sender.send(type="send", client_id="over", body="third")  # on the loop
    await sender.expect("ack", client_id="over")
    await sender.send(type="send", client_id="too-many", body="fourth")
    assert (await sender.expect("error"))["code"] == "rate_limited"
    assert thread_posts == ["hello", "I see no way out", "fourth"]
    assert await db(Message.objects.filter(kind="chat").count)() == 3
    assert await db(_advisory_locks)() == 0
    for client in (sender, other, fac):
        await client.close()


async def test_a_muted_member_is_refused_by_the_service(
    live_session, clinician, patient, thread_posts
):
    sender = await connect(live_session.pk, patient)
    fac = await connect(live_session.pk, clinician)
    await _warm(sender)
    await fac.send(type="mute", user_id=patient.pk, minutes=5)
    await sender.expect("you_muted")
    thread_posts.clear()
    await sender.send(type="send", client_id="hush", body="can I talk")
    assert (await sender.expect("error"))["code"] == "muted"
    assert thread_posts == ["can I talk"]
    assert not await db(Message.objects.filter(client_id="hush").exists)()
    await sender.close()
    await fac.close()


async def test_a_post_cancelled_midway_still_broadcasts_and_releases_the_lock(
    live_session, patient, member2, monkeypatch
):
    """The socket's task cancelled while the loop's post waits for its broadcast: the post
    finishes on its own (stored, broadcast, lock released), as a thread's would."""
    sender = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await _warm(sender)
    await other.expect_chat()
    gate = asyncio.Event()
    real_publish = loop_post.publish

    async def slow_publish(session_id, event):
        await gate.wait()
        await real_publish(session_id, event)

    monkeypatch.setattr(loop_post, "publish", slow_publish)
    task = asyncio.ensure_future(
        loop_post.post(author=patient, session_id=live_session.pk, body="late", client_id="c-1")
    )
    await asyncio.sleep(0.3)
    assert await db(_advisory_locks)() == 1  # held until the broadcast is out
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    assert (await other.expect_chat())["body"] == "late"
    for _ in range(30):
        if await db(_advisory_locks)() == 0:
            break
        await asyncio.sleep(0.1)
    assert await db(_advisory_locks)() == 0
    assert await db(Message.objects.filter(client_id="c-1").count)() == 1
    await sender.close()
    await other.close()


async def test_a_connection_the_server_ended_while_idle_is_replaced_before_use(
    live_session, patient, member2, thread_posts
):
    """A restart or a terminated backend ends the loop's idle connections: the next message
    goes out on a new one (none is handed a message to fail on)."""
    sender = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await _warm(sender)
    await sender.send(type="send", client_id="a", body="opens the loop's connection")
    await sender.expect("ack", client_id="a")
    thread_posts.clear()
    before = {c.info.backend_pid for c in list(loop_post._opened) if not c.closed}
    assert before

    def terminate(pids) -> None:
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])

    await db(terminate)(before)
    await sender.send(type="send", client_id="b", body="after the loss")
    assert (await sender.expect("ack", client_id="b"))["duplicate"] is False
    assert thread_posts == []  # on the loop, on a new connection
    after = {c.info.backend_pid for c in list(loop_post._opened) if not c.closed}
    assert after and not after & before
    bodies = [(await other.expect_chat())["body"] for _ in range(3)]
    assert bodies[1:] == ["opens the loop's connection", "after the loss"]
    assert await db(_advisory_locks)() == 0
    await sender.close()
    await other.close()


async def test_a_burst_on_the_loop_reaches_everyone_in_id_order(
    live_session, clinician, patient, member2, settings, monkeypatch
):
    """Three sockets send at once on the loop, each broadcast slow by a random time: the
    order lock keeps the broadcasts in id order."""
    settings.ROOMS_RATE_LIMIT_MESSAGES = 100
    senders = [await connect(live_session.pk, u) for u in (clinician, patient, member2)]
    await _warm(senders[1])
    real_publish = loop_post.publish

    async def jittery(session_id, event):
        await asyncio.sleep(random.uniform(0, 0.02))  # noqa: S311
        await real_publish(session_id, event)

    monkeypatch.setattr(loop_post, "publish", jittery)
    listener = senders[0]
    await listener.expect_chat()
    await asyncio.gather(
        *(
            client.send(type="send", client_id=f"b-{n}-{i}", body=f"burst {i}")
            for n, client in enumerate(senders)
            for i in range(10)
        )
    )
    ids = [(await listener.expect_chat(timeout=10))["id"] for _ in range(30)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 30
    assert await db(_advisory_locks)() == 0
    for client in senders:
        await client.close()


async def test_the_loops_connections_follow_the_prepared_statements_setting(
    live_session, patient, member2, monkeypatch
):
    """``DB_PREPARED_STATEMENTS=0`` (PgBouncer in transaction mode) turns prepared statements
    off for the loop's connections as for Django's (``prepare_threshold`` None)."""
    from django.db import connections

    options = connections["default"].settings_dict["OPTIONS"]
    monkeypatch.setitem(options, "prepare_threshold", None)
    sender = await connect(live_session.pk, patient)
    await _warm(sender)
    for n in range(6):  # past psycopg's usual threshold
        await sender.send(type="send", client_id=f"p-{n}", body=f"unprepared {n}")
        await sender.expect("ack", client_id=f"p-{n}")
    opened = [c for c in list(loop_post._opened) if not c.closed]
    assert opened
    assert all(c.prepare_threshold is None for c in opened)
    await sender.close()
