"""Shared pieces of the benchmarks: statistics, the result table, process metrics from /proc,
and starting the production topology (deploy/prod-local.py) for a run.

Every benchmark measures its figure and its baseline side by side in one run and returns
rows of ``Row``; ``bench.run`` prints them as one table per benchmark.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = ROOT / ".venv" / "bin"
LOOPBACK = "127.0.0.1"
# Ports 8700-8799 are this project's benchmark range; each benchmark takes its own block.
PORTS = {
    "topology": 8700,  # nginx 8700, HTTP 8701, daphne 8702/8703
    "http_gunicorn": 8710,
    "http_daphne": 8715,
    "idle": 8720,
    "relay": 8730,
    "fanout": 8750,
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(round(pct / 100 * len(ordered) + 0.5)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Row:
    figure: str
    measured: float | None
    baseline: float | None = None
    unit: str = ""
    goal: str = ""
    ok: bool | None = None  # None: no goal, or not measured
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.measured is None or not self.baseline:
            return None
        return self.measured / self.baseline


@dataclass
class Result:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for row, raw in zip(self.rows, data["rows"], strict=True):  # type: ignore[call-overload]
            raw["ratio"] = row.ratio
        return data


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100 or float(value).is_integer():
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(result: Result) -> str:
    """A Markdown table (it reads fine in a terminal and pastes into RESULTS.md)."""
    lines = [f"### {result.title}", ""]
    if result.skipped:
        lines.append(f"_not measured: {result.skipped}_")
        return "\n".join(lines) + "\n"
    lines.append("| figure | measured | baseline | ratio | goal | verdict |")
    lines.append("| --- | ---: | ---: | ---: | --- | --- |")
    for row in result.rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        verdict = {True: "pass", False: "**FAIL**", None: ""}[row.ok]
        figure = row.figure + (f" ({row.note})" if row.note else "")
        lines.append(
            f"| {figure} | {_fmt(row.measured, row.unit)} | {_fmt(row.baseline, row.unit)} "
            f"| {ratio} | {row.goal} | {verdict} |"
        )
    for note in result.notes:
        lines.append("")
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


# --- processes ------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (from /proc/<pid>/statm)."""
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE_SIZE / 1_048_576


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn workers, Celery pool processes)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(p) for p in path.read_text().split()]
    return []


def require_services() -> dict[str, str]:
    """The environment every topology run needs: PostgreSQL and Redis of this machine."""
    # One VAR_DIR (hence one generated SECRET_KEY) for the bench and every process it starts,
    # so sessions made here are valid there.
    os.environ.setdefault("VAR_DIR", "/tmp/viop-bench-var")  # noqa: S108
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    for name, prefix in (("DATABASE_URL", "postgres"), ("REDIS_URL", "redis://")):
        if not env.get(name, "").startswith(prefix):
            sys.exit(
                f"bench: {name} must point at this machine's {prefix.rstrip(':/')}, e.g.\n"
                "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/viop_bench "
                "REDIS_URL=redis://127.0.0.1:6379/7 make bench"
            )
    return env


@contextlib.contextmanager
def topology(*args: str, port: int = PORTS["topology"]) -> Iterator[dict[str, object]]:
    """Start deploy/prod-local.py with bench settings; yield its state (ports, pids)."""
    env = require_services()
    proc = subprocess.Popen(
        [str(BIN / "python"), str(ROOT / "deploy" / "prod-local.py"), "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state: dict[str, object] = {}
    lines: list[str] = []
    ready = threading.Event()

    def _read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("READY "):
                state.update(json.loads(line[len("READY ") :]))
                ready.set()

    threading.Thread(target=_read, daemon=True).start()
    try:
        deadline = time.monotonic() + 180
        while not ready.is_set() and proc.poll() is None and time.monotonic() < deadline:
            ready.wait(0.5)
        if not ready.is_set():
            raise RuntimeError("topology did not start:\n" + "".join(lines[-30:]))
        yield state
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def django_setup() -> None:
    """Configure Django in this process with the bench settings (for seeds and sessions)."""
    require_services()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django

    django.setup()


def make_session(user_id: int) -> str:
    """A signed-in session for ``user_id`` (as after login with MFA); returns the key."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.mfa import mfa_mark_passed
    from apps.core.sessions import LAST_SEEN_KEY

    user = get_user_model().objects.get(pk=user_id)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[LAST_SEEN_KEY] = time.time() + 86400  # benchmarks must not idle out mid-run
    mfa_mark_passed(session, user)  # staff sessions count once MFA passed
    session.create()
    return str(session.session_key)
