"""Django's Redis cache, keeping one redis-py client per connection pool, and carrying on
when Redis is down.

One client per pool: Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis``
for every cache call, and each one builds its table of ~170 response callbacks: two or three
of those per page view cost more Python than the cache round trips themselves (the pages
benchmark, bench/RESULTS.md). A ``redis.Redis`` is safe to share between threads (it takes
a connection from its pool for each command), so one per pool does the same work.

Without Redis: here Redis is only a cache (sessions are in the database), so a dead or hung
Redis must cost a page nothing but speed. A call that fails with a Redis error is answered
from a local-memory cache of this process instead, and for ``RETRY_SECONDS`` after a failure
every call goes there without trying Redis; then Redis is tried again. A failure is logged
once per outage, the recovery too. Short socket timeouts (``SOCKET_TIMEOUT``, no retries)
bound what a hung Redis costs the request that finds it so.

Why a local cache and not just "nothing" (a miss, a write dropped): the callers that count
in the cache keep counting. allauth's rate limits (failed logins per address and per
account, the TOTP step's attempts) take a lock with ``cache.add`` and keep their history
with ``get``/``set``: answered "nothing", they would either refuse every login ("too many
attempts" when the lock is never had) or limit nothing (the history always empty). Counted
per process they still limit, at worst as many times looser as there are web processes, and
the outage locks nobody out. Version counters of cached fragments are not shared that way,
so fragments are not cached while Redis is down (``degraded``), and every fragment stored
before the outage is dropped when Redis comes back (``on_recovery``), since the writes made
meanwhile could not bump their counters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

logger = logging.getLogger(__name__)

# Seconds a connect or a reply may take (a cache call takes well under a millisecond).
SOCKET_TIMEOUT = 0.5
# Seconds after a failure during which Redis is not tried again.
RETRY_SECONDS = 5.0


class _OneClientPerPool(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._clients[index] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class _Health:
    """Whether one Redis location answers, shared by the process's threads (Django gives
    each thread its own cache object)."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.recovering: int | None = None  # the thread running the recovery hooks

    def in_outage(self) -> bool:
        """Down, as far as this thread is concerned (the recovering one uses Redis)."""
        return self.down_since is not None and self.recovering != threading.get_ident()

    def skip(self) -> bool:
        return self.down_since is not None and time.monotonic() < self.retry_at

    def failed(self, location: str) -> None:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            logger.warning(
                "cache %s unavailable; using this process's memory until it answers",
                location,
                exc_info=True,
            )
        self.retry_at = now + RETRY_SECONDS

    def back(self, location: str, recover: Callable[[], None]) -> None:
        """Redis answers again: ``recover`` once, before any other call of the process
        uses Redis (they wait, or probe again and find it done)."""
        with _lock:
            if self.down_since is None:
                return
            self.recovering = threading.get_ident()
            try:
                recover()
            finally:
                self.recovering = None
            outage = time.monotonic() - self.down_since
            self.down_since = None
        logger.warning("cache %s answers again after %.0f s", location, outage)


_lock = threading.Lock()
_health: dict[str, _Health] = {}
_recovery_hooks: list[Callable[[], None]] = []


def on_recovery(hook: Callable[[], None]) -> None:
    """Call ``hook`` each time this process finds Redis answering again after an outage."""
    _recovery_hooks.append(hook)


def degraded(alias: str = "default") -> bool:
    """Is the cache ``alias`` answered from this process's memory now (Redis down, and not
    due to be tried again: the next call then finds out, and recovers or not)?"""
    backend = caches[alias]
    return isinstance(backend, RedisCache) and backend._health.skip()


def _errors() -> tuple[type[BaseException], ...]:
    # redis is imported only by a process that uses it (~100 ms; none on the embedded default).
    from redis.exceptions import RedisError

    return (RedisError, OSError)


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with ``_OneClientPerPool``, short
    timeouts, and this process's memory standing in while Redis is down."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        # Only when a Redis cache is configured: see _errors.
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options = {
            "socket_connect_timeout": SOCKET_TIMEOUT,
            "socket_timeout": SOCKET_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
            **(params.get("OPTIONS") or {}),
        }
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = _OneClientPerPool
        servers: list[str] = self._servers  # type: ignore[attr-defined]
        location = ",".join(servers)
        with _lock:
            self._health = _health.setdefault(location, _Health())
        # For the log: host and port only (a URL may carry a password).
        self._location = ",".join(f"{urlsplit(s).hostname}:{urlsplit(s).port}" for s in servers)
        kept = ("TIMEOUT", "KEY_PREFIX", "VERSION", "KEY_FUNCTION")
        fallback = {k: v for k, v in params.items() if k in kept}
        fallback["OPTIONS"] = {"MAX_ENTRIES": 10_000}  # rate-limit counts of many addresses
        self._fallback = LocMemCache(f"redis-fallback:{location}", fallback)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._health.in_outage() and not self._answers_again():
            return getattr(self._fallback, name)(*args, **kwargs)
        try:
            return getattr(super(), name)(*args, **kwargs)
        except _errors():
            self._health.failed(self._location)
            return getattr(self._fallback, name)(*args, **kwargs)

    def _answers_again(self) -> bool:
        """Redis was down: if its pause is over and it answers a PING, recover (before the
        call, so that call already sees what recovery changed) and go back to it."""
        if self._health.skip():
            return False
        try:
            self._cache.get_client(write=True).ping()
        except _errors():
            self._health.failed(self._location)
            return False
        self._health.back(self._location, self._recovered)
        return True

    def _recovered(self) -> None:
        self._fallback.clear()  # counts and values of the outage: not carried into the next
        for hook in _recovery_hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - one hook must not stop the others
                logger.exception("cache recovery hook failed")

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("add", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get", *args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("set", *args, **kwargs)

    def touch(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("touch", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("delete_many", *args, **kwargs)

    def clear(self) -> Any:
        return self._call("clear")
