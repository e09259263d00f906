"""Browser-test helpers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import async_to_sync


@pytest.fixture(autouse=True)
def _broadcasts_off_the_browser_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's sync API keeps an event loop running in the test thread, where
    async_to_sync refuses to run; without Redis, a service's broadcast (a persona's password
    save, for one) takes that path. Send it from a worker thread instead."""

    def off_loop(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(async_to_sync(fn), *args, **kwargs).result()

        return call

    monkeypatch.setattr("apps.core.events.async_to_sync", off_loop)
