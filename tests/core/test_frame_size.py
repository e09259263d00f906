"""Frames larger than the app's limit (issue 24 item 9): daphne's own limit (1 MB by default)
dropped them with no close frame, although the protocol promises ``frame_too_large``. Every
place that runs daphne sets its limits above the app's; a real daphne process with the
deployed options answers a 1.5 MB frame with the app's error frame and stays open."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.consumers import MAX_FRAME_BYTES
from tests.rooms.conftest import session_for
from tests.rooms.servers import daphne, deployed_daphne_options, free_port, server_env

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ("--websocket-max-message-size", "--websocket-max-frame-size")


def _daphne_command_lines() -> dict[str, list[str]]:
    """Every daphne command line we ship: Procfiles, the systemd unit, prod-local."""
    found: dict[str, list[str]] = {}
    for name in ("deploy/Procfile", "deploy/Procfile.dev", "deploy/systemd/virtualiop-ws@.service"):
        for line in (ROOT / name).read_text().splitlines():
            if re.search(r"daphne|virtualiop\.devserver", line) and not line.startswith("#"):
                found[name] = shlex.split(line.split(":", 1)[1] if ":" in line[:8] else line)
    spec = importlib.util.spec_from_file_location("prod_local", ROOT / "deploy" / "prod-local.py")
    assert spec and spec.loader
    prod_local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prod_local)
    found["deploy/prod-local.py"] = [*prod_local.DAPHNE_SIZE_LIMITS]
    found["tests/rooms/servers.py"] = deployed_daphne_options()
    return found


@pytest.mark.parametrize("name", list(_daphne_command_lines()))
def test_every_daphne_allows_frames_above_the_apps_limit(name):
    args = _daphne_command_lines()[name]
    for option in OPTIONS:
        assert option in args, f"{name} does not set {option}"
        assert int(args[args.index(option) + 1]) >= 1_500_000 > MAX_FRAME_BYTES


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_daphne_answers_a_1_5_mb_frame_with_frame_too_large(patient):
    from websockets.asyncio.client import connect

    cookie = f"{settings.SESSION_COOKIE_NAME}={session_for(patient).session_key}"
    port = free_port()

    async def scenario() -> None:
        async with connect(
            f"ws://127.0.0.1:{port}/ws/me/",
            additional_headers=[("Cookie", cookie)],
            origin=f"http://127.0.0.1:{port}",
            open_timeout=10,
            max_size=None,
        ) as ws:
            await ws.send(json.dumps({"type": "ping", "pad": "x" * 1_500_000}))
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert error["type"] == "error" and error["code"] == "frame_too_large"
            await ws.send(json.dumps({"type": "ping"}))  # still open
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"

    with daphne(port, server_env()):
        asyncio.run(scenario())
