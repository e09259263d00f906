"""An ASGI app for tests/core/test_twisted_send.py: the project's application (which installs
the send-at-once transport unless SOCKET_SEND_AT_ONCE=0), plus a /probe/ WebSocket that
answers every message with how many writes daphne's sockets made and how many of them had
to register with the reactor (Twisted's buffered path)."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import tcp

from virtualiop.asgi import application as project_application

counts = {"writes": 0, "registered": 0}
_transport = tcp.Port.transport  # what accepted sockets will be: ours when installed
_write, _start_writing = _transport.write, _transport.startWriting


def _counting_write(self: Any, data: bytes) -> None:
    counts["writes"] += 1
    _write(self, data)


def _counting_start_writing(self: Any) -> None:
    counts["registered"] += 1
    _start_writing(self)


_transport.write = _counting_write  # type: ignore[method-assign]
_transport.startWriting = _counting_start_writing  # type: ignore[method-assign]


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket" and scope["path"] == "/probe/":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            await send({"type": "websocket.send", "text": json.dumps(counts)})
        return
    await project_application(scope, receive, send)
