"""Run the benchmarks: ``make bench`` (or ``python -m bench``), each printing a table of
figure, measured, baseline, ratio and goal, measured side by side in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/viop_bench \\
    REDIS_URL=redis://127.0.0.1:6379/7 .venv/bin/python -m bench [--quick] [--only pages,fanout]
        [--soak-seconds 1800]

Everything targets 127.0.0.1 on ports 8700-8799 and is bounded in count and time. The
databases are seeded on first use (viop_bench, and viop_bench_small at a tenth of the size
for the query-count comparison). Tables also go to bench/out/ (Markdown and JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

from bench.common import BIN, OUT, ROOT, Result, require_services, table

ALL = ["channel_layer", "http_servers", "pages", "idle", "fanout", "reminders", "soak", "video"]


def _database_url_for(name: str) -> str:
    base, _, _ = os.environ["DATABASE_URL"].rpartition("/")
    return f"{base}/{name}"


def _ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')  # noqa: S608 - our own name


def _prepare(url: str, scale: float, *, seed: bool = True) -> None:
    """migrate and seed the database at ``url`` (seeding is skipped when done before)."""
    _ensure_database(url)
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="bench.settings")
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    if not seed:
        return
    subprocess.run(
        [str(BIN / "python"), "-m", "bench.seed", "--scale", str(scale)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    _analyze(url)


def _analyze(url: str) -> None:
    """Vacuum and planner statistics, as autovacuum keeps them in production. It may be off
    on a development server (it is off on the machines these results come from), and then every
    run inherits the dead rows of the runs before it: the rooms' presence table grew to 63,000
    dead rows for 800 live ones over a few fan-out runs, and the same code's p99 went from
    0.1 to 0.7 s (bench/RESULTS.md, ninth pass). Run before every benchmark."""
    import psycopg

    _ensure_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} x {cpu}, {mem:.0f} GB RAM, {platform.platform()}, Python "
        f"{platform.python_version()}; load average at start {load[0]:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Virtual IOP benchmarks against baselines.")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--quick", action="store_true", help="small counts: check the harness")
    parser.add_argument(
        "--soak-seconds", type=float, default=120, help="soak length (1800 = the 30-minute run)"
    )
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument(
        "--reminder-bound", type=float, default=420, help="seconds to wait for delivery"
    )
    ns = parser.parse_args(argv)
    require_services()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    chosen = [n.strip() for n in ns.only.split(",") if n.strip()] or ALL
    unknown = set(chosen) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    q = ns.quick
    small_url = _database_url_for("viop_bench_small")
    if {"pages", "http_servers", "idle", "reminders", "soak"} & set(chosen):
        _prepare(os.environ["DATABASE_URL"], 1.0)
    elif {"video", "fanout"} & set(chosen):  # their own rows only: migrated is enough
        _prepare(os.environ["DATABASE_URL"], 1.0, seed=False)
    if "pages" in chosen:
        _prepare(small_url, 0.1)

    from bench import channel_layer, fanout, http_servers, idle, pages, reminders, soak, video

    plan: dict[str, Callable[[], Result]] = {
        "channel_layer": lambda: channel_layer.run(count=200 if q else 2000),
        "http_servers": lambda: http_servers.run(requests=300 if q else 3000),
        "pages": lambda: pages.run(requests=100 if q else 1000, small_db=small_url),
        "idle": lambda: idle.run(count=200 if q else ns.sockets, hold=10 if q else 60),
        "fanout": lambda: fanout.run(
            rooms=4 if q else ns.rooms,
            seconds=20 if q else 60,
            max_rate_steps=(2.0,) if q else (5.0, 2.5, 1.25),
            step_seconds=10 if q else 20,
        ),
        "reminders": lambda: reminders.run(
            count=300 if q else ns.reminders, bound=120 if q else ns.reminder_bound
        ),
        "soak": lambda: soak.run(seconds=30 if q else ns.soak_seconds),
        "video": lambda: video.run(
            joins=2 if q else 5,
            sizes=((3, 3),) if q else ((5, 5), (10, 10)),
            window=5 if q else 20,
        ),
    }
    started = dt.datetime.now(dt.UTC)
    header = [
        f"# Benchmark run {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {machine()}",
        f"- command: `{' '.join([os.path.basename(sys.executable), '-m', 'bench', *(argv or sys.argv[1:])])}`",
        "",
    ]
    print("\n".join(header), flush=True)
    results = []
    for name in chosen:
        t0 = time.monotonic()
        try:
            _analyze(os.environ["DATABASE_URL"])
            result = plan[name]()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
            result = Result(name, name, skipped=f"failed: {type(exc).__name__}: {exc}"[:500])
        result.notes.append(f"took {time.monotonic() - t0:.0f} s")
        results.append(result)
        print(table(result), flush=True)
    OUT.mkdir(exist_ok=True)
    stamp = f"{started:%Y%m%d-%H%M%S}"
    (OUT / f"results-{stamp}.md").write_text(
        "\n".join(header) + "\n" + "\n".join(table(r) for r in results)
    )
    (OUT / f"results-{stamp}.json").write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "machine": machine(),
                "results": [r.to_json() for r in results],
            },
            indent=1,
        )
    )
    print(f"written to bench/out/results-{stamp}.md", flush=True)
    return 0
