"""The fan-out baseline: a bare relay, a minimal ``websockets`` server using Redis pub/sub.

``python -m bench.relay --port 8730`` serves ws://127.0.0.1:8730/<room>/. A text frame from
a client is PUBLISHed to ``relay.<room>``; every relay process subscribed to that room sends
it to its local sockets of the room as a ``message`` frame shaped like the rooms protocol's
(``{"type": "message", "message": {"id", "body", "client_id"}}``). Ids come from one Redis
INCR per room, so the per-room sequence check means the same thing for both systems. No
authentication, no storage, no checks: the least any relay must do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from collections import defaultdict
from typing import Any


async def main(port: int, redis_url: str) -> None:
    import redis.asyncio as redis
    from websockets.asyncio.server import serve

    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    number_and_publish = client.register_script(
        "local id = redis.call('INCR', KEYS[1]) "
        "redis.call('PUBLISH', KEYS[2], id .. '|' .. ARGV[1]) return id"
    )
    local: dict[str, set[Any]] = defaultdict(set)
    subscribed: set[str] = set()
    lock = asyncio.Lock()

    async def listener() -> None:
        while True:
            if not subscribed:
                await asyncio.sleep(0.05)
                continue
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            room = message["channel"].decode().removeprefix("relay.")
            seq, _, raw = message["data"].decode().partition("|")
            data = json.loads(raw)
            frame = json.dumps(
                {"type": "message", "message": {"id": int(seq), "kind": "chat", **data}}
            )
            for ws in list(local.get(room, ())):
                with contextlib.suppress(Exception):
                    await ws.send(frame)

    async def handler(ws: Any) -> None:
        room = ws.request.path.strip("/").split("/")[-1]
        async with lock:
            if room not in subscribed:
                await pubsub.subscribe(f"relay.{room}")
                subscribed.add(room)
        local[room].add(ws)
        try:
            async for frame in ws:
                try:
                    content = json.loads(frame)
                except ValueError:
                    continue
                if content.get("type") != "send":
                    continue
                out = {"body": content.get("body", ""), "client_id": content.get("client_id")}
                # INCR and PUBLISH in one script: Redis runs it atomically, so publish order
                # is id order, as a room's row lock gives the rooms app.
                await number_and_publish(
                    keys=[f"relay.seq.{room}", f"relay.{room}"], args=[json.dumps(out)]
                )
        finally:
            local[room].discard(ws)

    task = asyncio.create_task(listener())
    async with serve(handler, "127.0.0.1", port, ping_interval=20, max_queue=None):
        print(f"relay listening on {port}", flush=True)
        await asyncio.Future()
    task.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    ns = parser.parse_args()
    asyncio.run(main(ns.port, os.environ["REDIS_URL"]))
