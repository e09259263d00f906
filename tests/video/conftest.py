"""A real Janus and coturn for the video tests, started from the same renderer as `make run`
and production (apps/video/mediaserver.py), on free ports in a temporary directory."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.video import mediaserver
from apps.video.mediaserver import MediaConfig
from tests.factories import patient_in
from tests.rooms.conftest import django_db_modify_db_settings  # noqa: F401  (a file DB on SQLite)


@pytest.fixture
def member2(program):
    return patient_in(program, email="member2@example.test", full_name="Robin Second")


def _needs(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}; CI must install it (.ci/run)")
    pytest.skip(what)


def _wait_for_janus(config: MediaConfig, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"janus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{config.http_url}/info", timeout=1) as r:  # noqa: S310
                if json.loads(r.read()).get("janus") == "server_info":
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"janus did not answer: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def media_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaConfig]:
    if not mediaserver.janus_binary() or not mediaserver.turnserver_binary():
        _needs("janus and coturn are not installed (apt-get install janus coturn)")
    addresses = mediaserver.host_addresses()
    if not addresses:
        _needs("no non-loopback IPv4 interface for Janus's ICE candidates")
    folder = tmp_path_factory.mktemp("media")
    low = random.randrange(40000, 58000, 1000)
    config = MediaConfig.fresh(
        media_ip=addresses[0][1],
        http_port=mediaserver.free_port(),
        ws_port=mediaserver.free_port(),
        turn_port=mediaserver.free_port(),
        rtp_port_range=f"{low}-{low + 499}",
        turn_min_port=low + 500,
        turn_max_port=low + 999,
        realm="virtualiop-test",
    )
    jcfg = mediaserver.render_janus(config, folder / "janus")
    turn_conf = mediaserver.render_coturn(config, folder / "turnserver.conf")
    janus_log, turn_log = folder / "janus.log", folder / "turn.log"
    procs = [
        subprocess.Popen(
            mediaserver.janus_command(jcfg), stdout=janus_log.open("wb"), stderr=subprocess.STDOUT
        ),
        subprocess.Popen(
            mediaserver.turnserver_command(turn_conf),
            stdout=turn_log.open("wb"),
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        _wait_for_janus(config, procs[0], janus_log)
        time.sleep(0.3)  # coturn binds within milliseconds; UDP has nothing to wait on
        if procs[1].poll() is not None:
            raise RuntimeError(f"turnserver exited: {turn_log.read_text()[-2000:]}")
        yield config
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def video_on(settings, media_servers: MediaConfig) -> MediaConfig:
    """This process's settings pointed at the test Janus and coturn."""
    env = media_servers.env()
    settings.VIDEO_ENABLED = True
    settings.JANUS_HTTP_URL = env["JANUS_HTTP_URL"]
    settings.JANUS_WS_URL = env["JANUS_WS_URL"]
    settings.JANUS_TOKEN_SECRET = env["JANUS_TOKEN_SECRET"]
    settings.JANUS_ADMIN_KEY = env["JANUS_ADMIN_KEY"]
    settings.TURN_SECRET = env["TURN_SECRET"]
    settings.TURN_URLS = env["TURN_URLS"].split(",")
    return media_servers


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Join counters and sweep marks live in the cache: start every test from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
