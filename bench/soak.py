"""Soak: connect / chat / disconnect churn on the rooms consumer through nginx for
``seconds`` (default 120; the issue's 30-minute run is ``--soak-seconds 1800``), on the full
topology (nginx, gunicorn, two daphne, Celery worker and beat). Measured: RSS growth of each
daphne process and the worker after warm-up (the first fifth of the run), and any
"channel full" / error lines in the logs. Baseline: the bare relay under the same churn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import PORTS, Result, Row, children_of, rss_mb, topology

GOAL_GROWTH = 10.0
ERRORS: list[str] = []


async def _churn(
    targets: list[dict[str, Any]], seconds: float, needs_welcome: bool
) -> dict[str, int]:
    import websockets

    stop = time.monotonic() + seconds
    counts = {"sessions": 0, "sent": 0, "errors": 0}
    token = "s" + uuid.uuid4().hex[:6]
    samples_seen: set[str] = set()

    async def client(target: dict[str, Any], n: int) -> None:
        await asyncio.sleep(random.random() * 5)
        while time.monotonic() < stop:
            try:
                async with websockets.connect(
                    target["url"],
                    origin=target["origin"],
                    additional_headers=target["headers"],
                    open_timeout=30,
                ) as ws:
                    counts["sessions"] += 1
                    if needs_welcome:
                        while (
                            json.loads(await asyncio.wait_for(ws.recv(), 30)).get("type")
                            != "welcome"
                        ):
                            pass
                    for k in range(3):
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "send",
                                    "client_id": f"{token}-{n}-{counts['sent']}-{k}",
                                    "body": "soak",
                                }
                            )
                        )
                        counts["sent"] += 1
                        await asyncio.sleep(1 + random.random())
            except Exception as exc:  # noqa: BLE001
                counts["errors"] += 1
                samples_seen.add(repr(exc)[:120])
            await asyncio.sleep(random.random() * 2)

    await asyncio.gather(*(client(t, i) for i, t in enumerate(targets)))
    ERRORS.extend(sorted(samples_seen)[:5])
    return counts


def _sample(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        total = rss_mb(pid)
        for child in children_of(pid):  # the Celery worker's pool processes
            with contextlib.suppress(OSError):
                total += rss_mb(child)
        out[name] = total
    return out


def _run_with_samples(targets, seconds, needs_welcome, pids) -> tuple[dict, dict, dict]:
    samples: list[dict[str, float]] = []

    async def main() -> dict[str, int]:
        async def sampler() -> None:
            while True:
                samples.append(_sample(pids))
                await asyncio.sleep(max(2.0, seconds / 60))

        task = asyncio.create_task(sampler())
        try:
            return await _churn(targets, seconds, needs_welcome)
        finally:
            task.cancel()

    counts = asyncio.run(main())
    samples.append(_sample(pids))
    warm = samples[max(1, len(samples) // 5)]
    end = samples[-1]
    return counts, warm, end


def _layer_channels_kept() -> int:
    """Consumers' own channels (``new_channel()``) the daphne processes still subscribe to
    once every client has gone: each is a queue kept in a process and a Redis subscription
    (channels_redis' pub/sub layer kept about one per closed socket; ``LayerChannelReleased``)."""
    import redis
    from django.conf import settings

    time.sleep(2)  # the last sockets' disconnects reach the servers
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    return len(client.pubsub_channels(f"{prefix}specific.*"))


def run(seconds: float = 120, rooms: int = 3, per_room: int = 16) -> Result:
    from bench import fanout

    rooms_data = fanout.prepare(rooms, per_room)
    result = Result(
        "soak",
        f"Soak: {rooms * per_room} clients in {rooms} rooms connecting, sending 3 messages, "
        f"disconnecting, for {seconds:g} s (the 30-minute run: --soak-seconds 1800)",
    )
    with topology(port=PORTS["topology"] + 60) as state:
        port = int(state["port"])  # type: ignore[call-overload]
        pids = {k: v for k, v in state["pids"].items() if k in ("ws1", "ws2", "worker")}  # type: ignore[union-attr]
        targets = [
            {
                "url": f"ws://127.0.0.1:{port}/ws/rooms/{room['session_id']}/",
                "origin": f"http://127.0.0.1:{port}",
                "headers": {"Cookie": cookie},
            }
            for room in rooms_data
            for cookie in room["cookies"]
        ]
        counts, warm, end = _run_with_samples(targets, seconds, True, pids)
        kept = _layer_channels_kept()
        run_dir = Path(str(state["run_dir"]))
        logs = "".join(
            (run_dir / f"{n}.log").read_text(errors="replace")
            for n in ("ws1", "ws2", "worker")
            if (run_dir / f"{n}.log").exists()
        )
    full = logs.lower().count("channel full") + logs.count("ChannelFull")
    tracebacks = logs.count("Traceback")
    from bench.fanout import _relays

    relay_ports = [PORTS["relay"] + 10, PORTS["relay"] + 11]
    with _relays(relay_ports) as procs:
        relay_targets = [
            {
                "url": f"ws://127.0.0.1:{relay_ports[i % 2]}/soak{i % rooms}/",
                "origin": "http://127.0.0.1",
                "headers": {},
            }
            for i in range(rooms * per_room)
        ]
        base_counts, base_warm, base_end = _run_with_samples(
            relay_targets, min(seconds, 60), False, {"relay1": procs[0].pid, "relay2": procs[1].pid}
        )
    base_growth = max((base_end[k] - base_warm[k]) / base_warm[k] * 100 for k in base_warm)
    for name in ("ws1", "ws2", "worker"):
        growth = (end[name] - warm[name]) / warm[name] * 100
        result.rows.append(
            Row(
                f"{name} RSS growth after warm-up",
                growth,
                base_growth,
                "%",
                f"<= {GOAL_GROWTH:.0f}%",
                growth <= GOAL_GROWTH,
                note=f"{warm[name]:.0f} -> {end[name]:.0f} MB",
            )
        )
    result.rows.append(
        Row(
            "consumer channels still subscribed in Redis once every client has left",
            kept,
            None,
            "",
            "0",
            kept == 0,
        )
    )
    result.rows.append(Row("'channel full' log lines", full, None, "", "0", full == 0))
    result.rows.append(
        Row("tracebacks in daphne/worker logs", tracebacks, None, "", "0", tracebacks == 0)
    )
    result.rows.append(
        Row("connect/disconnect cycles", counts["sessions"], base_counts["sessions"], "")
    )
    result.rows.append(Row("messages sent", counts["sent"], base_counts["sent"], ""))
    result.rows.append(
        Row(
            "client errors", counts["errors"], base_counts["errors"], "", "0", counts["errors"] == 0
        )
    )
    if ERRORS:
        result.notes.append("client errors seen: " + "; ".join(ERRORS))
    result.notes.append(
        "baseline: bench/relay.py x 2 under the same churn (at most 60 s); its worst RSS growth."
    )
    return result


if __name__ == "__main__":
    import argparse

    from bench.common import table

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    ns = parser.parse_args()
    print(table(run(ns.seconds)))
