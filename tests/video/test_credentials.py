"""The token and TURN credential formats, checked by Janus and coturn themselves."""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.request

import pytest
from aioice import stun, turn

from apps.video import tokens
from apps.video.mediaserver import MediaConfig


def janus_create(config: MediaConfig, token: str | None) -> dict:
    body = {"janus": "create", "transaction": secrets.token_hex(4)}
    if token is not None:
        body["token"] = token
    request = urllib.request.Request(
        config.http_url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def test_janus_accepts_the_token_django_signs(media_servers):
    token = tokens.janus_token(secret=media_servers.token_secret, expires_at=tokens.now() + 60)
    assert janus_create(media_servers, token)["janus"] == "success"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda c: None, id="missing"),
        pytest.param(
            lambda c: tokens.janus_token(secret=c.token_secret, expires_at=tokens.now() - 5),
            id="expired",
        ),
        pytest.param(
            lambda c: tokens.janus_token(secret="not-the-secret", expires_at=tokens.now() + 60),
            id="forged",
        ),
        pytest.param(
            lambda c: tokens.janus_token(
                secret=c.token_secret, expires_at=tokens.now() + 60
            ).replace(",janus,", ",janus,janus.plugin.streaming,"),
            id="tampered",
        ),
    ],
)
def test_janus_refuses_a_bad_token_with_403(media_servers, make_token):
    answer = janus_create(media_servers, make_token(media_servers))
    assert answer["janus"] == "error"
    assert answer["error"]["code"] == 403


def test_a_token_without_the_videoroom_plugin_cannot_attach_it(media_servers):
    bare = tokens.janus_token(
        secret=media_servers.token_secret, expires_at=tokens.now() + 60, plugins=()
    )
    session = janus_create(media_servers, bare)["data"]["id"]
    body = {
        "janus": "attach",
        "plugin": tokens.VIDEOROOM,
        "transaction": "t",
        "token": bare,
    }
    request = urllib.request.Request(
        f"{media_servers.http_url}/{session}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        answer = json.loads(r.read())
    assert answer["janus"] == "error"
    assert answer["error"]["code"] == 405  # JANUS_ERROR_PLUGIN_ATTACH / unauthorized plugin


async def _allocate(config: MediaConfig, username: str, password: str) -> tuple[str, int]:
    transport, protocol = await turn.create_turn_endpoint(
        lambda: asyncio.DatagramProtocol(),
        server_addr=(config.media_ip, config.turn_port),
        username=username,
        password=password,
        transport="udp",
    )
    try:
        return transport.get_extra_info("sockname")
    finally:
        transport.close()


def test_coturn_allocates_a_relay_with_the_credentials_django_signs(media_servers):
    username, password = tokens.turn_credentials(
        secret=media_servers.turn_secret, opaque_id="p1234", expires_at=tokens.now() + 60
    )
    relayed = asyncio.run(asyncio.wait_for(_allocate(media_servers, username, password), 10))
    assert relayed[0] == media_servers.media_ip


@pytest.mark.parametrize("case", ["forged", "expired"])
def test_coturn_refuses_bad_credentials(media_servers, case):
    if case == "forged":
        username, _ = tokens.turn_credentials(
            secret=media_servers.turn_secret, opaque_id="p1", expires_at=tokens.now() + 60
        )
        password = "not-the-password"
    else:
        username, password = tokens.turn_credentials(
            secret=media_servers.turn_secret, opaque_id="p1", expires_at=tokens.now() - 60
        )
    with pytest.raises(stun.TransactionFailed) as failed:
        asyncio.run(asyncio.wait_for(_allocate(media_servers, username, password), 10))
    assert failed.value.response.attributes["ERROR-CODE"][0] == 401
