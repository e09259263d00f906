"""Reachability checks for /healthz: database, cache, channel layer, broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction

from apps.core.busy import is_database_busy
from apps.core.cache import degraded
from apps.core.events import release_layer_channel
from virtualiop.celery import app


class DatabaseSlow(RuntimeError):
    pass


def check_database() -> None:
    """A real read of the tables every page touches (sessions, users), timed against
    HEALTHZ_DB_BOUND_MS and cut off there: "SELECT 1" answered while pages hung on a lock."""
    bound_ms = int(settings.HEALTHZ_DB_BOUND_MS)
    started = time.monotonic()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"SET LOCAL statement_timeout = {bound_ms}")
                cursor.execute(f"SET LOCAL lock_timeout = {bound_ms}")
            cursor.execute("SELECT count(*) FROM (SELECT 1 FROM django_session LIMIT 1) s")
            cursor.fetchone()
            cursor.execute("SELECT count(*) FROM (SELECT 1 FROM accounts_user LIMIT 1) u")
            cursor.fetchone()
    except DatabaseError as exc:
        if is_database_busy(exc):
            raise DatabaseSlow(f"no answer within {bound_ms} ms") from exc
        raise
    if (time.monotonic() - started) * 1000 > bound_ms:
        raise DatabaseSlow(f"slower than {bound_ms} ms")


def check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value it stored")
    cache.delete(key)
    if degraded():  # pages carry on from this process's memory: still report Redis down
        raise RuntimeError("cache unavailable; answered from memory")


def check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip() -> None:
        channel = await layer.new_channel()
        try:
            await layer.send(channel, {"type": "healthz.ping"})
            message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        finally:
            await release_layer_channel(layer, channel)
        if message.get("type") != "healthz.ping":
            raise RuntimeError("channel layer returned the wrong message")

    async_to_sync(roundtrip)()


def check_broker() -> None:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}


def run_checks() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except DatabaseSlow:
            results[name] = "slow"
        except Exception as exc:  # noqa: BLE001 - any failure means "down", never a 500
            results[name] = f"down: {type(exc).__name__}"
        else:
            results[name] = "ok"
    return results
