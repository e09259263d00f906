"""Broadcasts to the channel layer, sent only once the surrounding transaction commits.

Every service that tells open pages about a change goes through ``send_event_on_commit``
(as Zulip's ``send_event_on_commit``), so a rolled-back write is never announced and a
stored row always exists before anyone hears of it.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def group_send_now(group: str, event: dict[str, Any]) -> None:
    # Round-trip through JSON so an unserialisable payload fails here, in tests, not in Redis.
    payload = json.loads(json.dumps(event))
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, payload)


def send_event_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to channel-layer ``group`` after the current transaction commits."""
    json.dumps(event)  # fail early, inside the service, on a bad payload
    transaction.on_commit(lambda: group_send_now(group, event))


def user_group(user_id: int) -> str:
    """Every socket a user has open joins this group (logout closes them all)."""
    return f"user.{user_id}"
