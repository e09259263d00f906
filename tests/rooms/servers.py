"""Real daphne processes against the pytest test database, for the cross-process and browser
tests (pytest-django's live_server speaks only WSGI)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_url() -> str:
    """The DATABASE_URL of the database this test is using (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.skip("the SQLite test database is in memory; a subprocess cannot open it")
        return f"sqlite:///{name}"
    user = quote(db.get("USER") or "")
    password = quote(db.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{db['NAME']}"


def server_env(*, channel_prefix: str | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "virtualiop.settings",
            "DATABASE_URL": test_database_url(),
            "SECRET_KEY": str(settings.SECRET_KEY),
            # Test-only password hasher (factories hash with it) and no DEBUG pages.
            "TESTING": "true",
            "CONN_MAX_AGE": "0",
            # Pub/sub channels ignore the Redis db number: keep this run's groups apart.
            "CHANNEL_PREFIX": channel_prefix or f"viop-rooms-test-{uuid.uuid4().hex[:8]}",
        }
    )
    return env


def deployed_daphne_options() -> list[str]:
    """The ``--websocket-*`` options of deploy/Procfile's daphne, so that test servers
    behave as production's do."""
    line = next(
        line
        for line in (ROOT / "deploy" / "Procfile").read_text().splitlines()
        if line.startswith("ws:")
    )
    args = shlex.split(line)
    return [
        part
        for i, arg in enumerate(args)
        if arg.startswith("--websocket-")
        for part in (arg, args[i + 1])
    ]


@contextlib.contextmanager
def daphne(
    port: int, env: dict[str, str], log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    log = open(log or f"/tmp/viop-rooms-daphne-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            *deployed_daphne_options(),
            "virtualiop.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne on {port} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"daphne on {port} did not start")
