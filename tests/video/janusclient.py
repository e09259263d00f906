"""Talk to the test Janus as a browser's janus.js would, over its HTTP transport."""

from __future__ import annotations

import json
import secrets
import urllib.request
from typing import Any

from apps.video import tokens


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        json.dumps({**body, "transaction": secrets.token_hex(4)}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def join_as_publisher(http_url: str, credentials: dict[str, Any]) -> dict[str, Any]:
    """Join the room with what /video/…/join/ handed out; returns VideoRoom's answer
    (``joined``, or an event with ``error_code``), or Janus's own error."""
    token = credentials["token"]
    created = _post(http_url, {"janus": "create", "token": token})
    if created["janus"] == "error":
        return created
    session = created["data"]["id"]
    attached = _post(
        f"{http_url}/{session}", {"janus": "attach", "plugin": tokens.VIDEOROOM, "token": token}
    )
    if attached["janus"] == "error":
        return attached
    handle = attached["data"]["id"]
    body = {
        "request": "join",
        "ptype": "publisher",
        "room": credentials["room"],
        "pin": credentials["pin"],
        "id": credentials["feed"],
        "display": credentials["display"],
        "token": credentials["acl"],
    }
    ack = _post(
        f"{http_url}/{session}/{handle}", {"janus": "message", "body": body, "token": token}
    )
    if ack["janus"] == "error":
        return ack
    # The join answers asynchronously: long-poll the session for the plugin's event.
    url = f"{http_url}/{session}?maxev=1&rid=1&token={urllib.request.quote(token)}"
    for _ in range(10):
        with urllib.request.urlopen(url, timeout=10) as r:
            event = json.loads(r.read())
        if event.get("janus") == "event":
            return event["plugindata"]["data"]
    raise AssertionError("no answer to the join")
