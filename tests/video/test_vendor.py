"""The browser libraries are Debian's, vendored unchanged (their versions in the names)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDORED = {
    "static/vendor/janus-1.1.2.js": "/usr/share/javascript/janus-gateway/janus.js",
    "static/vendor/adapter-8.2.0.js": "/usr/share/javascript/webrtc-adapter/adapter.js",
}


@pytest.mark.parametrize(("ours", "debian"), VENDORED.items())
def test_vendored_file_is_debians(ours, debian):
    if not Path(debian).exists():
        pytest.skip(f"{debian} is not installed")
    assert (ROOT / ours).read_bytes() == Path(debian).read_bytes()
