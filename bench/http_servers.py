"""HTTP server choice: the same Django views under gunicorn (WSGI, sync workers, as
deploy/Procfile) and under daphne (ASGI), side by side, interleaved rounds.

Both servers run at once on loopback, both with the bench settings against viop_bench, each
with the same number of processes (gunicorn --workers 2 vs two daphne processes would need a
balancer; one daphne process is how the ASGI server runs sync views: one at a time on its
thread pool, so one process is given and the note says so). Views: the one-query baseline
and the signed-in patient dashboard. The faster server serves pages in production.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator

from bench.common import BIN, PORTS, ROOT, Result, Row, require_services
from bench.httpload import LoadResult, load


@contextlib.contextmanager
def servers(workers: int = 2) -> Iterator[dict[str, int]]:
    env = require_services()
    env.update(DEBUG="0", TESTING="0", LOG_LEVEL="WARNING", DJANGO_ENV="development")
    env.setdefault("VAR_DIR", "/tmp/viop-bench-var")  # noqa: S108
    gport, dport = PORTS["http_gunicorn"], PORTS["http_daphne"]
    logdir = "/tmp/viop-bench-http"  # noqa: S108 - server logs, to read a 500's traceback
    os.makedirs(logdir, exist_ok=True)
    procs = [
        subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "virtualiop.wsgi:application",
                "--bind",
                f"127.0.0.1:{gport}",
                "--workers",
                str(workers),
                "--timeout",
                "30",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(f"{logdir}/gunicorn.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(dport),
                "virtualiop.asgi:application",
            ],
            cwd=ROOT,
            # Django's advice for ASGI: no persistent connections (each sync view runs in a
            # fresh thread, which would keep its own connection until PostgreSQL refuses more).
            env={**env, "CONN_MAX_AGE": "0"},
            stdout=open(f"{logdir}/daphne.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        deadline = time.monotonic() + 60
        for port in (gport, dport):
            while time.monotonic() < deadline:
                if load(port, ["/bench/baseline/"], requests=1, concurrency=1, seconds=5).statuses[
                    200
                ]:
                    break
                time.sleep(0.5)
        yield {"gunicorn": gport, "daphne": dport}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(requests: int = 2000, concurrency: int = 8, seconds: float = 30) -> Result:
    from bench.common import django_setup, make_session

    django_setup()
    from django.conf import settings

    from apps.accounts.models import User

    patient = User.objects.filter(email="pat1@bench.test").first()
    cookie = ""
    if patient is not None:
        cookie = f"{settings.SESSION_COOKIE_NAME}={make_session(patient.pk)}"
    result = Result(
        "http_servers",
        f"HTTP server for pages: gunicorn (2 sync workers) vs daphne (1 process), "
        f"{concurrency} connections, {requests} requests per round",
    )
    views = [("one-query view", "/bench/baseline/")]
    if cookie:
        views.append(("patient dashboard", "/"))
    with servers() as ports:
        runs: dict[tuple[str, str], list[LoadResult]] = {}
        for _round in range(2):  # interleave: drift on a shared machine hits both alike
            for label, path in views:
                for server, port in ports.items():
                    load(port, [path], cookie=cookie, requests=50, concurrency=2)  # warm
                    runs.setdefault((label, server), []).append(
                        load(
                            port,
                            [path],
                            cookie=cookie,
                            requests=requests // 2,
                            concurrency=concurrency,
                            seconds=seconds,
                        )
                    )
    for label, _path in views:
        g = _merge(runs[(label, "gunicorn")])
        d = _merge(runs[(label, "daphne")])
        result.rows.append(Row(f"{label}: daphne req/s (baseline gunicorn)", d.rps, g.rps, "req/s"))
        result.rows.append(Row(f"{label}: daphne p99 (baseline gunicorn)", d.p(99), g.p(99), "ms"))
        result.rows.append(
            Row(
                f"{label}: errors (gunicorn + daphne)",
                g.bad + d.bad,
                None,
                "",
                "0",
                g.bad + d.bad == 0,
            )
        )
        result.notes.append(
            f"{label}: gunicorn {g.rps:,.0f} req/s p50 {g.p(50):.1f} ms p99 {g.p(99):.1f} ms; "
            f"daphne {d.rps:,.0f} req/s p50 {d.p(50):.1f} ms p99 {d.p(99):.1f} ms"
            + (
                f"; statuses gunicorn {dict(g.statuses)} + {g.errors} transport errors, "
                f"daphne {dict(d.statuses)} + {d.errors} transport errors"
                if g.bad + d.bad
                else ""
            )
        )
    return result


def _merge(runs: list[LoadResult]) -> LoadResult:
    merged = LoadResult()
    for r in runs:
        merged.latencies += r.latencies
        merged.statuses.update(r.statuses)
        merged.errors += r.errors
        merged.seconds += r.seconds
    return merged


if __name__ == "__main__":
    from bench.common import table

    print(table(run(requests=600)))
