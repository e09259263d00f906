"""Idle sockets per daphne process: hold N signed-in per-user sockets (/ws/me/, the socket
every open page keeps) on ONE daphne process, with heartbeats (WebSocket pings both ways
every 20 s, and the consumer's own session re-check every 30 s), and measure RSS and CPU.
Baseline: the bare relay (bench/relay.py) holding the same number of sockets.

Bounded: N sockets (default 2,000), held for ``hold`` seconds (default 60).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time

from bench.common import (
    BIN,
    PORTS,
    ROOT,
    Result,
    Row,
    cpu_seconds,
    django_setup,
    make_session,
    require_services,
    rss_mb,
)

GOAL_SOCKETS = 2000
GOAL_RSS_PER_1000 = 150.0


async def _hold(
    url: str, origin: str, headers: dict[str, str], count: int, pid: int, hold: float
) -> dict:
    import websockets

    sockets = []
    failures = 0
    sem = asyncio.Semaphore(20)

    async def one() -> None:
        nonlocal failures
        async with sem:
            for attempt in range(3):
                try:
                    ws = await websockets.connect(
                        url,
                        origin=origin,
                        additional_headers=headers,
                        open_timeout=60,
                        ping_interval=20,
                        ping_timeout=60,
                    )
                    sockets.append(ws)
                    return
                except Exception:  # noqa: BLE001
                    await asyncio.sleep(1 + attempt)
            failures += 1

    # One socket first, so the baseline RSS includes a warmed-up process.
    await one()
    await asyncio.sleep(2)
    rss_before = rss_mb(pid)
    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(count - 1)))
    connect_seconds = time.monotonic() - started
    await asyncio.sleep(5)
    cpu_start, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(hold)
    cpu_used = cpu_seconds(pid) - cpu_start
    elapsed = time.monotonic() - t0
    rss_after = rss_mb(pid)
    alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    return {
        "held": alive,
        "failures": failures,
        "connect_seconds": connect_seconds,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_per_1000": (rss_after - rss_before) / max(alive, 1) * 1000,
        "cpu_pct_per_1000": cpu_used / elapsed * 100 / max(alive, 1) * 1000,
    }


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listening on {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(count: int = GOAL_SOCKETS, hold: float = 60) -> Result:
    django_setup()
    from django.conf import settings

    from apps.accounts.models import User

    env = require_services()
    env.update(DEBUG="0", TESTING="0", LOG_LEVEL="WARNING")
    user = User.objects.filter(email="pat1@bench.test").first() or User.objects.first()
    assert user is not None, "seed first: python -m bench.seed"
    cookie = f"{settings.SESSION_COOKIE_NAME}={make_session(user.pk)}"
    port = PORTS["idle"]
    daphne = _start(
        [
            str(BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--proxy-headers",
            "virtualiop.asgi:application",
        ],
        env,
    )
    try:
        _wait_port(port)
        app = asyncio.run(
            _hold(
                f"ws://127.0.0.1:{port}/ws/me/",
                f"http://127.0.0.1:{port}",
                {"Cookie": cookie},
                count,
                daphne.pid,
                hold,
            )
        )
    finally:
        _stop(daphne)
    relay_port = PORTS["relay"] + 5
    relay = _start([str(BIN / "python"), "-m", "bench.relay", "--port", str(relay_port)], env)
    try:
        _wait_port(relay_port)
        base = asyncio.run(
            _hold(
                f"ws://127.0.0.1:{relay_port}/idle/", "http://127.0.0.1", {}, count, relay.pid, hold
            )
        )
    finally:
        _stop(relay)
    result = Result(
        "idle",
        f"Idle sockets on one daphne process: {count:,} signed-in /ws/me/ sockets held "
        f"{hold:g} s with heartbeats",
    )
    result.rows.append(
        Row(
            "sockets held by one process",
            app["held"],
            base["held"],
            "",
            f">= {GOAL_SOCKETS:,}",
            app["held"] >= GOAL_SOCKETS,
            note=f"{app['failures']} failed to connect",
        )
    )
    result.rows.append(
        Row(
            "RSS per 1,000 idle sockets",
            app["rss_per_1000"],
            base["rss_per_1000"],
            "MB",
            f"<= {GOAL_RSS_PER_1000:.0f} MB",
            app["rss_per_1000"] <= GOAL_RSS_PER_1000,
        )
    )
    result.rows.append(
        Row("process RSS with the sockets", app["rss_after"], base["rss_after"], "MB")
    )
    result.rows.append(
        Row(
            "CPU per 1,000 idle sockets",
            app["cpu_pct_per_1000"],
            base["cpu_pct_per_1000"],
            "% of a core",
        )
    )
    result.rows.append(
        Row(
            f"time to open {count:,} sockets (20 at a time)",
            app["connect_seconds"],
            base["connect_seconds"],
            "s",
        )
    )
    result.notes.append(
        "baseline: bench/relay.py (websockets + Redis pub/sub, no auth, no session checks). "
        "RSS per 1,000 = (RSS with the sockets - RSS with one) / sockets x 1,000."
    )
    return result


if __name__ == "__main__":
    import argparse

    from bench.common import table

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--hold", type=float, default=15)
    ns = parser.parse_args()
    print(table(run(ns.count, ns.hold)))
