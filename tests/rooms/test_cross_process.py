"""Two daphne processes sharing Redis: a client on each, one process killed mid-conversation,
its client reconnects to the other and catches up with nothing lost or duplicated."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest
from django.conf import settings

from apps.rooms.models import Message
from tests.rooms.conftest import session_for
from tests.rooms.servers import daphne, free_port, server_env

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (runs in CI)"),
]


class Peer:
    def __init__(self, name: str, cookie: str) -> None:
        self.name = name
        self.cookie = cookie
        self.ws = None
        self.ids: list[int] = []  # chat message ids seen, in arrival order
        self.bodies: dict[int, str] = {}
        self.acked: dict[str, int] = {}

    async def open(self, port: int) -> dict:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            f"ws://127.0.0.1:{port}/ws/rooms/{self.session_id}/",
            additional_headers=[("Cookie", self.cookie)],
            origin=f"http://127.0.0.1:{port}",
            open_timeout=10,
        )
        welcome = await self.next_frame()
        assert welcome["type"] == "welcome", welcome
        return welcome

    async def next_frame(self, timeout: float = 10) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    def note(self, message: dict) -> None:
        if message["kind"] == "chat" and message["id"] not in self.bodies:
            self.ids.append(message["id"])
            self.bodies[message["id"]] = message["body"]

    async def send(self, client_id: str, body: str) -> None:
        await self.ws.send(json.dumps({"type": "send", "client_id": client_id, "body": body}))

    async def wait_for(self, predicate, timeout: float = 10) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.next_frame(max(0.1, deadline - loop.time()))
            if frame["type"] == "message":
                self.note(frame["message"])
            elif frame["type"] == "ack":
                self.acked[frame["client_id"]] = frame["id"]
                self.note(frame["message"])
            elif frame["type"] == "messages":
                for m in frame["messages"]:
                    self.note(m)
            if predicate(frame):
                return frame


def test_two_processes_share_a_room_and_a_reconnect_catches_up(live_session, patient, member2):
    cookie_name = settings.SESSION_COOKIE_NAME
    alice = Peer("alice", f"{cookie_name}={session_for(patient).session_key}")
    bob = Peer("bob", f"{cookie_name}={session_for(member2).session_key}")
    alice.session_id = bob.session_id = live_session.pk  # type: ignore[attr-defined]
    env = server_env()
    port_a, port_b = free_port(), free_port()

    with daphne(port_a, env) as proc_a, daphne(port_b, env):

        async def conversation() -> None:
            await alice.open(port_a)
            await bob.open(port_b)
            # Each speaks on its own process; the other hears it through Redis.
            for i in range(3):
                await alice.send(f"a{i}", f"alice {i}")
                await alice.wait_for(
                    lambda f, i=i: f["type"] == "ack" and f["client_id"] == f"a{i}"
                )
                await bob.wait_for(
                    lambda f, i=i: f["type"] == "message" and f["message"]["body"] == f"alice {i}"
                )
                await bob.send(f"b{i}", f"bob {i}")
                await bob.wait_for(lambda f, i=i: f["type"] == "ack" and f["client_id"] == f"b{i}")
                await alice.wait_for(
                    lambda f, i=i: f["type"] == "message" and f["message"]["body"] == f"bob {i}"
                )
            # Alice sends one more and her process dies before she can read the ack.
            await alice.send("a3", "alice 3 (ack lost)")
            await bob.wait_for(
                lambda f: f["type"] == "message" and f["message"]["body"] == "alice 3 (ack lost)"
            )
            os.kill(proc_a.pid, signal.SIGKILL)
            proc_a.wait()
            # Bob keeps talking while Alice is away.
            for i in range(3, 6):
                await bob.send(f"b{i}", f"bob {i}")
                await bob.wait_for(lambda f, i=i: f["type"] == "ack" and f["client_id"] == f"b{i}")
            # Alice's client reconnects to the surviving process and catches up.
            await alice.open(port_b)
            last_seen = max(alice.ids)
            await alice.ws.send(json.dumps({"type": "sync", "after": last_seen}))
            batch = await alice.wait_for(lambda f: f["type"] == "messages")
            caught_up = [m["body"] for m in batch["messages"] if m["kind"] == "chat"]
            assert caught_up == ["alice 3 (ack lost)", "bob 3", "bob 4", "bob 5"]
            # Her unacknowledged message is resent with the same client id: not duplicated.
            await alice.send("a3", "alice 3 (ack lost)")
            ack = await alice.wait_for(lambda f: f["type"] == "ack" and f["client_id"] == "a3")
            assert ack["duplicate"] is True
            await alice.ws.close()
            await bob.ws.close()

        asyncio.run(conversation())

    stored = list(
        Message.objects.filter(room__session=live_session, kind="chat")
        .order_by("id")
        .values_list("id", "body")
    )
    assert [body for _, body in stored] == [
        "alice 0",
        "bob 0",
        "alice 1",
        "bob 1",
        "alice 2",
        "bob 2",
        "alice 3 (ack lost)",
        "bob 3",
        "bob 4",
        "bob 5",
    ]
    # Alice saw every message exactly once, in order.
    assert alice.ids == [pk for pk, _ in stored]
    assert len(set(alice.ids)) == len(alice.ids)
