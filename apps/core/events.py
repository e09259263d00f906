"""Broadcasts to the channel layer, sent only once the surrounding transaction commits.

Every service that tells open pages about a change goes through ``send_event_on_commit``
(as Zulip's ``send_event_on_commit``), so a rolled-back write is never announced and a
stored row always exists before anyone hears of it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def group_send_now(group: str, event: dict[str, Any]) -> None:
    """Publish ``event`` to ``group`` now. A broadcast that cannot go out (Redis down) is
    logged as lost, never raised: the write it announces has committed, and pages catch up
    from the database (a room's clients by ``sync`` when they see a seq they lack, a user's
    sockets by their periodic session check)."""
    # Round-trip through JSON so an unserialisable payload fails here, in tests, not in Redis.
    payload = json.loads(json.dumps(event))
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, payload)
    except Exception:  # noqa: BLE001 - any layer failure: the broadcast is lost, not the write
        broadcast_lost(group)


async def group_send_async(group: str, event: dict[str, Any]) -> None:
    """``group_send_now`` for code on an event loop (no JSON round trip: hot paths only)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, event)
    except Exception:  # noqa: BLE001 - as group_send_now
        broadcast_lost(group)


def broadcast_lost(group: str) -> None:
    """Log a broadcast the layer could not take (the group name holds ids only)."""
    logger.warning("broadcast to %s lost: the channel layer is unavailable", group, exc_info=True)


def send_event_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to channel-layer ``group`` after the current transaction commits."""
    json.dumps(event)  # fail early, inside the service, on a bad payload
    transaction.on_commit(lambda: group_send_now(group, event))


async def release_layer_channel(layer: Any, channel: str | None) -> None:
    """Forget ``channel`` (a consumer's own, from ``new_channel()``) in ``layer``.

    channels_redis' pub/sub layer (4.3) keeps a queue and a Redis subscription for each
    ``new_channel()`` until a ``receive()`` on it is cancelled *while waiting*. A consumer
    whose receive already holds a message when the socket closes (a room broadcast that
    arrived during its disconnect), or whose next receive has not started yet, ends without
    that: the channel was kept for good, about one per closed socket under churn (the
    30-minute soak's memory creep, bench/RESULTS.md). Other layers forget a channel
    themselves (the in-memory layer once its queue is empty; the core layer by expiry)."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if channel is None or not isinstance(layer, RedisPubSubChannelLayer):
        return
    loop_layer = layer._get_layer()
    if loop_layer.channels.pop(channel, None) is not None:
        try:
            await loop_layer._get_shard(channel).unsubscribe(channel)
        except Exception:  # Redis gone: the subscription went with the connection
            logger.warning("could not unsubscribe a closed consumer's channel", exc_info=True)


def user_group(user_id: int) -> str:
    """Every socket a user has open joins this group (logout closes them all)."""
    return f"user.{user_id}"
