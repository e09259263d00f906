from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """allauth keeps its login counters in the cache, which outlives a test."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
