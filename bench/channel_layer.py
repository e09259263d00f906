"""Channel layer: ``group_send`` to a 15-member group, p99 send -> last member's receipt,
for channels_redis' core ``RedisChannelLayer`` and ``RedisPubSubChannelLayer`` (the one the
settings use), against raw Redis PUBLISH -> SUBSCRIBE with the same fan-out.

Members sit on two layer instances, as sockets of one room sit on two daphne processes.
Sends are paced (``--interval``), bounded in count, on the machine's Redis (REDIS_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections import defaultdict
from typing import Any

from bench.common import Result, Row, percentile

MEMBERS = 15
GOAL_RATIO = 5.0


async def _measure_layer(layer_cls: type, redis_url: str, count: int, interval: float) -> dict:
    config: dict[str, Any] = {"hosts": [redis_url], "prefix": f"bench{uuid.uuid4().hex[:6]}"}
    sender = layer_cls(**config)
    processes = [layer_cls(**config), layer_cls(**config)]
    group = f"bench.{uuid.uuid4().hex[:8]}"
    arrivals: dict[int, list[float]] = defaultdict(list)
    members = []
    for index in range(MEMBERS):
        layer = processes[index % 2]
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        members.append((layer, channel))

    async def receive(layer: Any, channel: str) -> None:
        while True:
            message = await layer.receive(channel)
            arrivals[message["seq"]].append(time.perf_counter())

    tasks = [asyncio.create_task(receive(layer, channel)) for layer, channel in members]
    return await _drive(
        lambda seq: sender.group_send(group, {"type": "bench.msg", "seq": seq}),
        arrivals,
        tasks,
        count,
        interval,
        cleanup=[*(lay.flush() for lay in [sender, *processes])],
    )


async def _measure_raw(redis_url: str, count: int, interval: float, connections: int) -> dict:
    """PUBLISH once; ``connections`` subscriber connections fan out to the 15 members."""
    import redis.asyncio as redis

    channel = f"bench.raw.{uuid.uuid4().hex[:8]}"
    publisher = redis.Redis.from_url(redis_url)
    arrivals: dict[int, list[float]] = defaultdict(list)
    per_connection = [
        MEMBERS // connections + (i < MEMBERS % connections) for i in range(connections)
    ]
    subscribers = []
    for _ in range(connections):
        client = redis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(channel)
        subscribers.append((client, pubsub))

    async def listen(pubsub: Any, members: int) -> None:
        queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(members)]

        async def member(queue: asyncio.Queue[int]) -> None:
            while True:
                seq = await queue.get()
                arrivals[seq].append(time.perf_counter())

        workers = [asyncio.create_task(member(q)) for q in queues]
        try:
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                seq = int(message["data"])
                for queue in queues:
                    queue.put_nowait(seq)
        finally:
            for worker in workers:
                worker.cancel()

    tasks = [
        asyncio.create_task(listen(pubsub, n))
        for (_, pubsub), n in zip(subscribers, per_connection, strict=True)
    ]
    cleanup = [publisher.aclose(), *(c.aclose() for c, _ in subscribers)]
    return await _drive(
        lambda seq: publisher.publish(channel, str(seq)), arrivals, tasks, count, interval, cleanup
    )


async def _drive(send, arrivals, tasks, count: int, interval: float, cleanup) -> dict:
    await asyncio.sleep(0.3)  # subscriptions settle
    warmup = max(20, count // 10)
    sent: dict[int, float] = {}
    for seq in range(warmup + count):
        sent[seq] = time.perf_counter()
        await send(seq)
        await asyncio.sleep(interval)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(len(arrivals[s]) < MEMBERS for s in sent):
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for coro in cleanup:
        with contextlib.suppress(Exception):  # best effort on the way out
            await coro
    measured = range(warmup, warmup + count)
    latencies = [
        (max(arrivals[s]) - sent[s]) * 1000 for s in measured if len(arrivals[s]) >= MEMBERS
    ]
    lost = sum(MEMBERS - min(len(arrivals[s]), MEMBERS) for s in measured)
    duplicated = sum(max(0, len(arrivals[s]) - MEMBERS) for s in measured)
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "lost": lost,
        "duplicated": duplicated,
        "count": count,
        "latencies": latencies,
    }


async def _run(redis_url: str, count: int, interval: float) -> dict[str, dict]:
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    results = {}
    # Interleave so drift on a shared machine hits every variant alike.
    for round_ in range(2):
        for name, coro in (
            ("raw2", lambda: _measure_raw(redis_url, count // 2, interval, 2)),
            ("raw15", lambda: _measure_raw(redis_url, count // 2, interval, MEMBERS)),
            (
                "pubsub",
                lambda: _measure_layer(RedisPubSubChannelLayer, redis_url, count // 2, interval),
            ),
            ("core", lambda: _measure_layer(RedisChannelLayer, redis_url, count // 2, interval)),
        ):
            outcome = await coro()
            results.setdefault(name, []).append(outcome)  # type: ignore[attr-defined]
        del round_
    merged = {}
    for name, runs in results.items():
        pooled = [x for r in runs for x in r["latencies"]]
        merged[name] = {
            "p50": percentile(pooled, 50),
            "p99": percentile(pooled, 99),
            "lost": sum(r["lost"] for r in runs),
            "duplicated": sum(r["duplicated"] for r in runs),
        }
    return merged


def run(count: int = 1000, interval: float = 0.004) -> Result:
    redis_url = os.environ["REDIS_URL"]
    data = asyncio.run(_run(redis_url, count, interval))
    baseline = data["raw2"]
    result = Result(
        "channel_layer",
        f"Channel layer: group_send to a {MEMBERS}-member group ({count} sends, one every "
        f"{interval * 1000:.0f} ms), send -> last member's receipt",
    )
    for key, label in (
        ("pubsub", "RedisPubSubChannelLayer (settings)"),
        ("core", "RedisChannelLayer (core)"),
    ):
        d = data[key]
        result.rows.append(Row(f"{label} p50", d["p50"], baseline["p50"], "ms"))
        ok = d["p99"] <= GOAL_RATIO * baseline["p99"] and d["lost"] == 0
        result.rows.append(
            Row(f"{label} p99", d["p99"], baseline["p99"], "ms", f"<= {GOAL_RATIO:.0f}x raw", ok)
        )
        result.rows.append(
            Row(
                f"{label} lost / duplicated deliveries",
                d["lost"] + d["duplicated"],
                None,
                "",
                "0",
                d["lost"] + d["duplicated"] == 0,
                note=f"lost {d['lost']}, duplicated {d['duplicated']}",
            )
        )
    result.rows.append(
        Row(
            "raw PUBLISH, 15 SUBSCRIBE connections p99 (info)",
            data["raw15"]["p99"],
            baseline["p99"],
            "ms",
        )
    )
    result.notes.append(
        "baseline: raw redis-py PUBLISH, two SUBSCRIBE connections (one per daphne process) "
        "handing each message to 15 in-process queues; percentiles pool two interleaved rounds per variant."
    )
    return result


if __name__ == "__main__":
    from bench.common import table

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.004)
    ns = parser.parse_args()
    print(table(run(ns.count, ns.interval)))
