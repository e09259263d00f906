"""A small closed-loop HTTP/1.1 load generator (asyncio, keep-alive, loopback only).

``load(port, paths, ...)`` keeps ``concurrency`` connections busy, each sending the next
request as soon as the previous answer is read, until ``requests`` answers or ``seconds``
pass (whichever first): bounded in count and time. Returns latencies (ms), status counts,
throughput. No third-party client: fewer moving parts on a shared 2-core machine.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.common import LOOPBACK, percentile


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def bad(self) -> int:
        """Transport errors plus any answer that is not 200."""
        return self.errors + sum(n for code, n in self.statuses.items() if code != 200)

    def p(self, pct: float) -> float:
        return percentile(self.latencies, pct)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    keep = headers.get("connection", "").lower() != "close"
    return status, keep


async def _worker(port, paths, cookie, result, deadline, budget) -> None:
    reader = writer = None
    cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
    try:
        while time.monotonic() < deadline:
            try:
                path = next(budget)
            except StopIteration:
                return
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(LOOPBACK, port)
                except OSError:
                    result.errors += 1
                    await asyncio.sleep(0.1)
                    continue
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie_line}"
                "Accept: text/html\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            try:
                writer.write(request)
                status, keep = await asyncio.wait_for(_read_response(reader), 30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                writer.close()
                reader = writer = None
                continue
            result.latencies.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1
            if not keep:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _load(port, paths, cookie, concurrency, requests, seconds) -> LoadResult:
    result = LoadResult()
    budget = iter(itertools.islice(itertools.cycle(paths), requests))
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(_worker(port, paths, cookie, result, deadline, budget) for _ in range(concurrency))
    )
    result.seconds = time.monotonic() - started
    return result


def load(
    port: int,
    paths: list[str],
    *,
    cookie: str = "",
    concurrency: int = 4,
    requests: int = 1000,
    seconds: float = 30,
) -> LoadResult:
    return asyncio.run(_load(port, paths, cookie, concurrency, requests, seconds))
