"""Rooms fixtures: a live session with a facilitator and two members, and socket helpers."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from apps.accounts.mfa import mfa_mark_passed
from apps.core.sessions import LAST_SEEN_KEY
from tests.factories import patient_in
from tests.rooms.factories import make_session

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """SQLite: put the test database in a file (not memory) so the daphne subprocesses of
    the browser and cross-process tests can open it. PostgreSQL needs nothing."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        path = os.path.join(tempfile.gettempdir(), f"viop-rooms-test-{os.getpid()}.sqlite3")
        db.setdefault("TEST", {})["NAME"] = path


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit and typing counters live in the cache: start every test from zero."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def member2(program):
    return patient_in(program, email="member2@example.test", full_name="Robin Second")


@pytest.fixture
def live_session(program, clinician, patient, member2):
    return make_session(program, [clinician], [patient, member2])


def session_for(user, *, idle_for: float = 0) -> SessionStore:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    mfa_mark_passed(session, user)  # staff sessions count once MFA passed
    session[LAST_SEEN_KEY] = time.time() - idle_for
    session.create()
    return session


def communicator_for(
    session_id: int, session: SessionStore | None = None, origin: Any = ORIGIN
) -> WebsocketCommunicator:
    from virtualiop.asgi import application

    headers = [origin] if origin else []
    if session is not None:
        headers.append(
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode())
        )
    return WebsocketCommunicator(application, f"/ws/rooms/{session_id}/", headers=headers)


class Client:
    """A connected room socket with helpers to wait for a frame of a given type."""

    def __init__(self, comm: WebsocketCommunicator, first: dict[str, Any] | None) -> None:
        self.comm = comm
        self.first = first
        self.seen: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.comm.send_json_to(frame)

    async def expect(self, kind: str, timeout: float = 3, **match: Any) -> dict[str, Any]:
        """The next frame of type ``kind`` (matching ``match``); others are kept in seen."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} frame; saw {[f.get('type') for f in self.seen]}")
            output = await self.comm.receive_output(timeout=left)
            if output["type"] == "websocket.close":
                raise AssertionError(f"closed {output.get('code')} while waiting for {kind}")
            import json

            frame = json.loads(output["text"])
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame
            self.seen.append(frame)

    async def expect_system(self, event: str, timeout: float = 3) -> dict[str, Any]:
        """The next system message of kind ``event`` (joined, left, admitted, ...)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.expect("message", timeout=max(0.01, deadline - time.monotonic()))
            if frame["message"].get("event") == event:
                return frame["message"]

    async def expect_chat(self, timeout: float = 3) -> dict[str, Any]:
        """The next chat message (system messages are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.expect("message", timeout=max(0.01, deadline - time.monotonic()))
            if frame["message"]["kind"] == "chat":
                return frame["message"]

    async def expect_close(self, timeout: float = 3) -> int:
        deadline = time.monotonic() + timeout
        while True:
            output = await self.comm.receive_output(timeout=max(0.01, deadline - time.monotonic()))
            if output["type"] == "websocket.close":
                return output.get("code", 1000)

    async def nothing_of(self, kind: str, timeout: float = 0.3) -> bool:
        import json

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.comm.receive_nothing(timeout=0.05):
                continue
            output = await self.comm.receive_output()
            if output["type"] == "websocket.send":
                frame = json.loads(output["text"])
                if frame.get("type") == kind:
                    return False
                self.seen.append(frame)
        return True

    async def close(self) -> None:
        await self.comm.disconnect()


async def connect(session_id: int, user, **kwargs: Any) -> Client:
    """Connect ``user`` and return the client after the first frame (welcome/waiting)."""
    store = await sync_to_async(session_for)(user)
    comm = communicator_for(session_id, store, **kwargs)
    connected, code = await comm.connect()
    assert connected, f"refused with {code}"
    first = await comm.receive_json_from(timeout=3)
    return Client(comm, first)


async def refused(session_id: int, user=None, **kwargs: Any) -> int:
    """Try to connect; return the close code (the test fails if it was accepted)."""
    store = await sync_to_async(session_for)(user) if user is not None else None
    comm = communicator_for(session_id, store, **kwargs)
    connected, code = await comm.connect()
    await comm.disconnect()
    assert not connected, "the socket was accepted"
    return code
