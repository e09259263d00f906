"""Production configuration comes from the same templates, with secrets kept across runs."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command


def render(out, *extra: str) -> str:
    buffer = io.StringIO()
    call_command(
        "video_config", "--out", str(out), "--media-ip", "203.0.113.10", *extra, stdout=buffer
    )
    return buffer.getvalue()


def test_renders_locked_down_janus_and_coturn_with_kept_secrets(tmp_path):
    printed = render(tmp_path, "--public-ip", "198.51.100.7", "--site-host", "iop.example.org")
    secrets = json.loads((tmp_path / "secrets.json").read_text())
    janus = (tmp_path / "janus" / "janus.jcfg").read_text()
    assert "token_auth = true" in janus and secrets["token_secret"] in janus
    assert 'nat_1_1_mapping = "198.51.100.7"' in janus
    assert "libjanus_streaming.so" in janus and "libjanus_videoroom.so" not in janus
    http = (tmp_path / "janus" / "janus.transport.http.jcfg").read_text()
    assert 'ip = "127.0.0.1"' in http and "admin_http = false" in http
    room = (tmp_path / "janus" / "janus.plugin.videoroom.jcfg").read_text()
    assert secrets["admin_key"] in room
    turn = (tmp_path / "turnserver.conf").read_text()
    assert "use-auth-secret" in turn and f"static-auth-secret={secrets['turn_secret']}" in turn
    assert "allowed-peer-ip=203.0.113.10" in turn and "allow-loopback-peers" not in turn
    assert "external-ip=198.51.100.7/203.0.113.10" in turn  # behind the NAT
    # Secrets go to files Django reads, never into the printed environment.
    for value in secrets.values():
        assert value not in printed
    assert "JANUS_WS_URL=wss://iop.example.org/janus/" in printed
    assert (tmp_path / "janus_token_secret").read_text() == secrets["token_secret"]
    assert oct((tmp_path / "secrets.json").stat().st_mode)[-3:] == "600"
    render(tmp_path)
    assert json.loads((tmp_path / "secrets.json").read_text()) == secrets


def test_refuses_a_bad_address_and_tls_without_a_certificate(tmp_path):
    with pytest.raises(CommandError):
        render(tmp_path / "a", "--public-ip", "not-an-ip")
    with pytest.raises(CommandError):
        render(tmp_path / "b", "--turn-tls-port", "5349")
