"""Waiting for a condition, with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float = 10,
    interval: float = 0.05,
    what: str = "the condition",
    page: Any = None,
) -> Any:
    """``check()``'s first truthy answer; fails after ``timeout`` seconds. With a Playwright
    ``page``, waits through it, so its event and route handlers run meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {value!r}")
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)


async def await_until(
    check: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 10,
    interval: float = 0.05,
    what: str = "the condition",
) -> Any:
    """``await check()``'s first truthy answer; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {value!r}")
        await asyncio.sleep(interval)
