"""One redis-py client per Redis URL per process, for talking to the channel layer's Redis
directly (apps/core/events.py). A client holds a connection pool and is thread-safe."""

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
