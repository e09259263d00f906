"""A real Janus and coturn for the video tests, started from the same renderer as `make run`
and production (apps/video/mediaserver.py), on free ports in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

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


@pytest.fixture(scope="session")
def media_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaConfig]:
    if not mediaserver.janus_binary() or not mediaserver.turnserver_binary():
        _needs("janus and coturn are not installed (apt-get install janus coturn)")
    if not mediaserver.host_addresses():
        _needs("no non-loopback IPv4 interface for Janus's ICE candidates")
    config = mediaserver.ephemeral_config(realm="virtualiop-test")
    with mediaserver.running(config, tmp_path_factory.mktemp("media")):
        yield config


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
