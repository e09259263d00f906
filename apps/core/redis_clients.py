"""One redis-py client per Redis URL per process, for the few places that talk to Redis
directly instead of through Django's cache or the channel layer (Django's Redis cache builds
a client object on every call; a client holds a connection pool and is thread-safe)."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client_for(url: str) -> Any:
    client = _clients.get(url)
    if client is None:
        import redis

        with _lock:
            client = _clients.get(url)
            if client is None:
                client = _clients[url] = redis.Redis.from_url(url)
    return client
