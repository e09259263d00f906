"""Pages under steady load through the production topology (nginx -> gunicorn), each against
the one-query baseline view (bench/baseline_urls.py) with the same signed-in cookie, in
interleaved blocks; plus the SQL queries each page makes, at full seed and at a tenth of it,
so a count that grows with data (an N+1) shows.

Needs ``python -m bench.seed`` first (``bench.run`` seeds when the database is empty, and
seeds viop_bench_small at --scale 0.1 for the query-count comparison).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any

from bench.common import BIN, PORTS, ROOT, Result, Row, django_setup, make_session, topology
from bench.httpload import LoadResult, load

GOAL_P95_RATIO = 2.0


def page_plan() -> list[dict[str, Any]]:
    """(label, user e-mail, path) for the pages the issue names, from the seeded data."""
    django_setup()
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from apps.rooms.models import Message
    from apps.rooms.selectors import grace
    from apps.scheduling.models import Session

    patient_email, clinician_email = "pat1@bench.test", "clin1@bench.test"
    plan = [
        {"label": "patient dashboard", "email": patient_email, "path": "/"},
        {"label": "My week", "email": patient_email, "path": "/schedule/"},
        {"label": "clinician Today", "email": clinician_email, "path": "/schedule/today/"},
        {"label": "caseload dashboard", "email": clinician_email, "path": "/progress/caseload/"},
    ]
    # A session whose room has closed (past its end and the grace after it) with a transcript:
    # one that ended minutes ago is still the live room, and one that ended after the data
    # was seeded has no room: each a different page (the 20:38 UTC run, 2026-11-30, measured
    # the second — 4 KB and 12 queries instead of the 30 KB transcript).
    past = (
        Session.objects.filter(
            Exists(Message.objects.filter(room__session=OuterRef("pk"))),
            group__memberships__patient__email=patient_email,
            ends_at__lt=timezone.now() - grace() - dt.timedelta(minutes=1),
        )
        .order_by("-starts_at")
        .first()
    )
    if past is not None:
        plan.append({"label": "room history", "email": patient_email, "path": f"/rooms/{past.pk}/"})
    return plan


def count_queries() -> dict[str, Any]:
    """In-process: SQL queries per page (Django test client, same settings, this database)."""
    django_setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.mfa import mfa_mark_passed
    from apps.accounts.models import User

    counts: dict[str, Any] = {}
    for item in page_plan():
        client = Client()
        user = User.objects.get(email=item["email"])
        client.force_login(user)
        session = client.session
        mfa_mark_passed(session, user)  # staff pages need a session that passed MFA
        session.save()
        client.get(item["path"])  # warm caches (nav registry, templates)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(item["path"])
        counts[item["label"]] = {
            "queries": len(ctx.captured_queries),
            "status": response.status_code,
        }
    return counts


def _count_in(database_url: str) -> dict[str, Any]:
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="bench.settings")
    out = subprocess.run(
        [str(BIN / "python"), "-m", "bench.pages", "--count-queries"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(
    requests: int = 600, concurrency: int = 4, seconds: float = 60, small_db: str = ""
) -> Result:
    django_setup()
    from django.conf import settings

    from apps.accounts.models import User

    plan = page_plan()
    cookies = {}
    for item in plan:
        if item["email"] not in cookies:
            user = User.objects.get(email=item["email"])
            cookies[item["email"]] = f"{settings.SESSION_COOKIE_NAME}={make_session(user.pk)}"
    result = Result(
        "pages",
        f"Pages through nginx -> gunicorn (2 workers), {concurrency} connections, "
        f"{requests} requests per page and as many to the baseline, interleaved",
    )
    with topology("--no-celery", port=PORTS["topology"]) as state:
        port = int(state["port"])  # type: ignore[call-overload]
        for item in plan:
            cookie = cookies[item["email"]]
            _check_signed_in(port, item["path"], cookie)
            load(port, [item["path"]], cookie=cookie, requests=20, concurrency=2)  # warm
            page_runs: list[LoadResult] = []
            base_runs: list[LoadResult] = []
            for _round in range(2):
                page_runs.append(
                    load(
                        port,
                        [item["path"]],
                        cookie=cookie,
                        requests=requests // 2,
                        concurrency=concurrency,
                        seconds=seconds / 2,
                    )
                )
                base_runs.append(
                    load(
                        port,
                        ["/bench/baseline/"],
                        cookie=cookie,
                        requests=requests // 2,
                        concurrency=concurrency,
                        seconds=seconds / 2,
                    )
                )
            page, base = _merge(page_runs), _merge(base_runs)
            result.rows.append(Row(f"{item['label']} p50", page.p(50), base.p(50), "ms"))
            ratio_ok = page.p(95) <= GOAL_P95_RATIO * base.p(95)
            result.rows.append(
                Row(
                    f"{item['label']} p95", page.p(95), base.p(95), "ms", "<= 2x baseline", ratio_ok
                )
            )
            result.rows.append(
                Row(
                    f"{item['label']} errors",
                    page.bad,
                    None,
                    "",
                    "0",
                    page.bad == 0,
                    note=f"{len(page.latencies)} answers"
                    + (f", {dict(page.statuses)}" if page.bad else ""),
                )
            )
    full = count_queries()
    small = _count_in(small_db) if small_db else {}
    for label, data in full.items():
        other = small.get(label, {}).get("queries")
        same = other is None or other == data["queries"]
        result.rows.append(
            Row(
                f"{label}: SQL queries (baseline: a tenth of the data)",
                data["queries"],
                other,
                "",
                "same at both sizes",
                same if other is not None else None,
            )
        )
    result.notes.append(
        "baseline: /bench/baseline/ (one COUNT query) on the same server with the same cookie, "
        "so session, auth and middleware costs are in both; p50/p95 pool two interleaved blocks."
    )
    return result


def _check_signed_in(port: int, path: str, cookie: str) -> None:
    """The page answers 200 to this cookie as a signed-in user (not a landing/login page)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200 or b"account/logout" not in body and b"/accounts/logout/" not in body:
        raise RuntimeError(f"{path}: not served to a signed-in user (status {response.status})")


def _merge(runs: list[LoadResult]) -> LoadResult:
    merged = LoadResult()
    for r in runs:
        merged.latencies += r.latencies
        merged.statuses.update(r.statuses)
        merged.errors += r.errors
        merged.seconds += r.seconds
    return merged


if __name__ == "__main__":
    if "--count-queries" in sys.argv:
        print(json.dumps(count_queries()))
    else:
        from bench.common import table

        print(table(run(requests=200)))
