"""One redis-py client per Redis URL per process, for talking to the channel layer's Redis
directly (apps/core/events.py). A client holds a connection pool and is thread-safe.

Its timeouts are the channel layer's (settings.CHANNEL_LAYERS): a publish to a hung Redis
gives up within seconds, and the broadcast is logged as lost (clients fill the gap)."""

from __future__ import annotations

import threading
from typing import Any

TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 2.0}
_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client_for(url: str) -> Any:
    client = _clients.get(url)
    if client is None:
        import redis

        with _lock:
            client = _clients.get(url)
            if client is None:
                client = _clients[url] = redis.Redis.from_url(url, **TIMEOUTS)
    return client
