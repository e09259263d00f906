"""The Redis cache keeps one redis-py client per pool, and still works as Django's."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (runs in CI)")


def test_the_cache_reuses_its_client_and_reads_back_what_it_wrote():
    from apps.core.cache import RedisCache

    cache = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "test-cache-client"})
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client(write=False) is client  # one server: one pool
    results: list[object] = []

    def worker(n: int) -> None:
        for i in range(50):
            cache.set(f"k{n}-{i}", {"n": n, "i": i}, timeout=30)
            results.append(cache.get(f"k{n}-{i}") == {"n": n, "i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 200
    assert cache.get_many([f"k0-{i}" for i in range(3)]) == {
        f"k0-{i}": {"n": 0, "i": i} for i in range(3)
    }
    cache.delete_many([f"k{n}-{i}" for n in range(4) for i in range(50)])
    assert cache.get("k0-0") is None


def test_the_settings_use_it_with_redis():
    assert settings.CACHES["default"]["BACKEND"] == "apps.core.cache.RedisCache"
