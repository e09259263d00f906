"""The production topology (deploy/prod-local.py) on this machine's PostgreSQL and Redis.

Starts nginx + gunicorn + two daphne processes + a Celery worker and beat against the pytest
test database, puts two sockets of one user on *different* daphne processes (nginx names the
upstream in X-Viop-Upstream) and shows events cross between processes through the Redis
channel layer: an event published by a third process reaches both, and signing out over
HTTP (gunicorn) closes both. Then members of one live group room on different daphne
processes chat: every message is stored, then reaches each other member exactly once with
the same id, and a member who reconnects on the other process catches up with ``sync``.

Skipped where nginx is missing or DATABASE_URL/REDIS_URL are not PostgreSQL/Redis; with
``CI`` set a missing prerequisite fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from apps.accounts.mfa import mfa_mark_passed

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("PROD_LOCAL_TEST_PORT", "8740"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _missing_prerequisite() -> str | None:
    if not Path(NGINX).exists():
        return "nginx is not installed"
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL is not PostgreSQL"
    if not os.environ.get("REDIS_URL", "").startswith("redis://"):
        return "REDIS_URL is not Redis"
    return None


@pytest.fixture(scope="module", autouse=True)
def _prerequisites():
    reason = _missing_prerequisite()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the topology test must run in CI: {reason}")
        pytest.skip(reason)


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = urllib.parse.quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + urllib.parse.quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def topology(django_db_setup, django_db_blocker, tmp_path_factory):
    """One topology for the module, on the test database (each test still gets a clean one)."""
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    var_dir = tmp_path_factory.mktemp("prod-local") / "var"
    # Same secret key as this process: the sessions made here must decode there.
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        VAR_DIR=str(var_dir),
        SECRET_KEY=settings.SECRET_KEY,
        # This process's Redis database and channel prefix (a pytest-xdist worker has its own).
        REDIS_URL=settings.REDIS_URL,
        CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    )
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "prod-local.py"), "--port", str(PORT)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()
    state: dict[str, object] = {}

    def _read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("READY "):
                state.update(json.loads(line[len("READY ") :]))
                ready.set()

    threading.Thread(target=_read, daemon=True).start()
    try:
        deadline = time.monotonic() + 150
        while not ready.is_set() and proc.poll() is None and time.monotonic() < deadline:
            ready.wait(0.5)
        assert ready.is_set(), "the topology did not start:\n" + "".join(lines)
        yield state
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _session_for(user) -> SessionStore:
    from apps.core.sessions import LAST_SEEN_KEY

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    mfa_mark_passed(session, user)  # staff sessions count once MFA passed
    session[LAST_SEEN_KEY] = time.time()
    session.create()
    return session


async def _sockets_on_two_daphnes(url: str, cookie: str):
    """Open /ws/me/ sockets through nginx until two sit on different daphne processes."""
    import websockets

    by_upstream: dict[str, object] = {}
    extra = []
    for _ in range(8):
        ws = await websockets.connect(
            url, origin=f"http://127.0.0.1:{PORT}", additional_headers={"Cookie": cookie}
        )
        upstream = ws.response.headers["X-Viop-Upstream"]
        if upstream in by_upstream:
            extra.append(ws)
        else:
            by_upstream[upstream] = ws
        if len(by_upstream) == 2:
            break
    for ws in extra:
        await ws.close()
    return by_upstream


def _sign_out_over_http(base: str, cookie_name: str, session_key: str) -> int:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("Cookie", f"{cookie_name}={session_key}")]
    page = opener.open(f"{base}/accounts/logout/", timeout=20).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the sign-out page has no form"
    csrf = next(c.value for c in jar if c.name == settings.CSRF_COOKIE_NAME)
    opener.addheaders = [
        ("Cookie", f"{cookie_name}={session_key}; {settings.CSRF_COOKIE_NAME}={csrf}"),
        ("Referer", f"{base}/accounts/logout/"),
    ]
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1)}).encode()
    with contextlib.suppress(urllib.error.HTTPError):
        response = opener.open(f"{base}/accounts/logout/", data=data, timeout=20)
        return response.status
    return 0


@pytest.mark.django_db(transaction=True)
def test_topology_serves_pages_static_files_and_health_through_nginx(topology):
    base = topology["url"]
    with urllib.request.urlopen(f"{base}/healthz", timeout=20) as response:
        assert response.status == 200
        assert json.loads(response.read())["status"] == "ok"
    with urllib.request.urlopen(f"{base}/accounts/login/", timeout=20) as response:
        assert b'name="login"' in response.read()
    with urllib.request.urlopen(f"{base}/static/css/app.css", timeout=20) as response:
        assert response.headers["Server"].startswith("nginx")
        assert response.read()
    assert set(topology["pids"]) == {"web", "ws1", "ws2", "worker", "beat", "nginx"}


@pytest.mark.django_db(transaction=True)
def test_events_cross_between_daphne_processes(topology, patient):
    from channels.layers import get_channel_layer

    from apps.core.events import user_group

    session = _session_for(patient)
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    base = topology["url"]
    url = base.replace("http://", "ws://") + "/ws/me/"

    async def scenario() -> None:
        sockets = await _sockets_on_two_daphnes(url, cookie)
        assert len(sockets) == 2, f"nginx did not balance the sockets: {list(sockets)}"
        assert set(sockets) == {f"127.0.0.1:{p}" for p in topology["ws_ports"]}
        try:
            for ws in sockets.values():  # both are authorised and live
                await ws.send(json.dumps({"type": "ping"}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
            # An event published from this (third) process reaches both daphne processes.
            layer = get_channel_layer()
            await layer.group_send(
                user_group(patient.pk),
                {"type": "user.event", "payload": {"type": "crossing", "n": 1}},
            )
            for ws in sockets.values():
                assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {
                    "type": "crossing",
                    "n": 1,
                }
            # Signing out over HTTP (gunicorn) closes the sockets on both daphne processes.
            status = await asyncio.to_thread(
                _sign_out_over_http, base, settings.SESSION_COOKIE_NAME, session.session_key
            )
            assert status == 200
            for ws in sockets.values():
                with contextlib.suppress(Exception):
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                assert ws.close_code == 4401
        finally:
            for ws in sockets.values():
                await ws.close()
            if hasattr(layer := get_channel_layer(), "flush"):
                with contextlib.suppress(Exception):
                    await layer.flush()

    asyncio.run(scenario())


class _RoomSocket:
    """A room socket through nginx: who it is, which daphne process it landed on, and every
    frame it has received (read in the background)."""

    def __init__(self, name: str, user, ws, upstream: str) -> None:
        self.name = name
        self.user = user
        self.ws = ws
        self.upstream = upstream
        self.frames: list[dict] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for text in self.ws:
                self.frames.append(json.loads(text))

    async def send(self, **frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def wait_for(self, predicate, what: str, timeout: float = 15) -> dict:
        """The first frame received so far (or within ``timeout``) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if time.monotonic() > deadline or self.reader.done():
                seen = [f.get("type") for f in self.frames]
                raise AssertionError(f"{self.name} ({self.upstream}): no {what}; saw {seen}")
            await asyncio.sleep(0.05)

    def chats(self, message_id: int) -> list[dict]:
        return [
            f["message"]
            for f in self.frames
            if f.get("type") == "message" and f["message"]["id"] == message_id
        ]

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.reader, 5)


async def _room_socket(url: str, name: str, user, cookie: str, want: str | None) -> _RoomSocket:
    """Connect ``user`` to the room through nginx, reconnecting until the socket lands on the
    daphne process ``want`` (any when None); returns it after its ``welcome``."""
    import websockets

    landed = []
    for _ in range(8):
        ws = await websockets.connect(
            url, origin=f"http://127.0.0.1:{PORT}", additional_headers={"Cookie": cookie}
        )
        upstream = ws.response.headers["X-Viop-Upstream"]
        if want is None or upstream == want:
            sock = _RoomSocket(name, user, ws, upstream)
            await sock.wait_for(lambda f: f.get("type") == "welcome", "welcome")
            return sock
        landed.append(upstream)
        await ws.close()
    raise AssertionError(f"nginx never put {name} on {want}: {landed}")


@pytest.mark.django_db(transaction=True)
def test_room_messages_cross_between_daphne_processes(topology, program, clinician, patient):
    """Members of one live room on different daphne processes: each one's chat message is
    stored, then reaches every other member exactly once with the same id; a member who
    drops and comes back on the *other* process catches up with ``sync``."""
    from apps.rooms.models import Connection, Message
    from tests.factories import patient_in
    from tests.rooms.factories import make_session

    member2 = patient_in(program, email="member2@example.test", full_name="Robin Second")
    member3 = patient_in(program, email="member3@example.test", full_name="Sam Third")
    # Started 5 minutes ago, one hour long, members admitted on arrival: the room is live.
    live = make_session(program, [clinician], [patient, member2, member3])
    people = {
        "facilitator": clinician,  # MFA enrolled; the socket needs only the signed-in session
        "patient": patient,
        "member2": member2,
        "member3": member3,
    }
    cookies = {
        name: f"{settings.SESSION_COOKIE_NAME}={_session_for(user).session_key}"
        for name, user in people.items()
    }
    url = topology["url"].replace("http://", "ws://") + f"/ws/rooms/{live.pk}/"
    upstreams = [f"127.0.0.1:{p}" for p in topology["ws_ports"]]

    def stored(message: dict, author) -> bool:
        return Message.objects.filter(
            pk=message["id"], room__session=live, author=author, body=message["body"]
        ).exists()

    async def scenario() -> None:
        sockets: list[_RoomSocket] = []
        try:
            # Alternate the people over the two daphne processes.
            for index, (name, user) in enumerate(people.items()):
                want = upstreams[index % len(upstreams)]
                sockets.append(await _room_socket(url, name, user, cookies[name], want))
            placed = {s.name: s.upstream for s in sockets}
            # Patients of the room sit on different daphne processes.
            assert placed["patient"] != placed["member2"], placed
            assert placed["member3"] != placed["member2"], placed
            assert set(placed.values()) == set(upstreams), placed

            # Each sends one chat message; the ack carries the id the room will see.
            sent: list[tuple[_RoomSocket, dict]] = []
            for sock in sockets:
                client_id = f"cross-{sock.name}"
                await sock.send(type="send", client_id=client_id, body=f"hello from {sock.name}")
                ack = await sock.wait_for(
                    lambda f, c=client_id: f.get("type") == "ack" and f["client_id"] == c,
                    f"ack for {client_id}",
                )
                assert ack["duplicate"] is False
                assert stored(ack["message"], sock.user), ack
                sent.append((sock, ack))

            for sender, ack in sent:
                for sock in sockets:
                    if sock is sender:
                        continue
                    frame = await sock.wait_for(
                        lambda f, i=ack["id"]: (
                            f.get("type") == "message" and f["message"]["id"] == i
                        ),
                        f"message {ack['id']} from {sender.name}",
                    )
                    message = frame["message"]
                    # The row exists by the time any member sees the message.
                    assert stored(message, sender.user), message
                    assert message["kind"] == "chat"
                    assert message["body"] == f"hello from {sender.name}"
                    assert message["client_id"] == ack["client_id"]
                    assert message["author"]["id"] == sender.user.pk
            # Some of those crossed processes (the sender's daphne is not the receiver's).
            assert any(s.upstream != r.upstream for s, _ in sent for r in sockets if r is not s)

            # Exactly once: give any duplicate time to arrive, then count.
            await asyncio.sleep(2)
            for sender, ack in sent:
                for sock in sockets:
                    if sock is not sender:
                        copies = sock.chats(ack["id"])
                        assert len(copies) == 1, (sock.name, sender.name, copies)
            assert Message.objects.filter(room__session=live, kind="chat").count() == len(sent)

            # A member drops; two others (one on each process) write while it is away.
            leaver = next(s for s in sockets if s.name == "patient")
            last_seen = max(ack["id"] for _, ack in sent)
            first_upstream = leaver.upstream
            await leaver.close()
            sockets.remove(leaver)
            writers = [next(s for s in sockets if s.upstream == u) for u in upstreams]
            missed = []
            for writer in writers:
                client_id = f"while-away-{writer.name}"
                await writer.send(type="send", client_id=client_id, body=f"missed {writer.name}")
                ack = await writer.wait_for(
                    lambda f, c=client_id: f.get("type") == "ack" and f["client_id"] == c,
                    f"ack for {client_id}",
                )
                missed.append(ack["id"])
            # It comes back on the other daphne process and asks for what it missed.
            other_upstream = next(u for u in upstreams if u != first_upstream)
            back = await _room_socket(
                url, "patient (back)", patient, cookies["patient"], other_upstream
            )
            sockets.append(back)
            assert back.upstream != first_upstream
            await back.send(type="sync", after=last_seen)
            batch = await back.wait_for(
                lambda f: f.get("type") == "messages" and f["after"] == last_seen, "messages"
            )
            chats = [m for m in batch["messages"] if m["kind"] == "chat"]
            assert [m["id"] for m in chats] == missed
            assert [m["body"] for m in chats] == [f"missed {w.name}" for w in writers]
            ids = [m["id"] for m in batch["messages"]]
            assert ids == sorted(set(ids)) and all(i > last_seen for i in ids)
            assert batch["more"] is False
        finally:
            for sock in sockets:
                await sock.close()
            # Daphne records each departure (presence, attendance) after the socket closes;
            # let those transactions commit before the test database is flushed, or the
            # flush's TRUNCATE can deadlock with them.
            deadline = time.monotonic() + 20
            while (
                Connection.objects.filter(room__session=live).exists()
                and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.1)
            if hasattr(layer := get_channel_layer(), "flush"):
                with contextlib.suppress(Exception):
                    await layer.flush()
            # The queries above ran in this event loop's context, on a connection of their
            # own; left open, it would keep the test database from being dropped.
            connections.close_all()

    from channels.layers import get_channel_layer
    from django.db import connections

    asyncio.run(scenario())
