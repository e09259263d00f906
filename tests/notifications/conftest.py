from __future__ import annotations

import pytest

from apps.notifications import sms


@pytest.fixture(autouse=True)
def _clean_sms_outbox():
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def browser():
    """Per-test browser (overrides the root session-scoped one): Playwright's sync API keeps
    an event loop running in the test thread while it is open, which breaks the async
    WebsocketCommunicator tests that run after it."""
    import os
    from pathlib import Path

    from conftest import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; CI must install it")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
