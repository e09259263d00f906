"""Reminders: N e-mail reminders (default 10,000) due in the same minute, dispatched by the
notifications outbox (beat's ``notifications.dispatch_due`` claims, Celery workers deliver),
two worker processes as deploy/Procfile runs them. Measured: lateness (hand-over to the mail
backend minus due time), duplicates (bench/mailbackend.py counts every hand-over per
notification id in Redis), what is left unsent when the time bound ends. Run twice: as is,
and with one worker process group killed with SIGKILL halfway (restarted 5 s later, as
systemd's Restart=always would). A reminder the killed worker was handing over at that
instant is "outcome unknown" by design (never sent again, so never twice): counted apart,
and out of the lateness figures when it never reached the backend.

Baseline: the same workers executing N trivial Celery tasks (bench/tasks.py) sent with an
ETA at the same due times - the engines alone, no outbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter

from bench.common import BIN, ROOT, Result, Row, django_setup, percentile, require_services

GOAL_P99_S = 60.0
EVENT_PREFIX = "bench-rem"


class Workers:
    """Two Celery worker process groups and (optionally) beat, as in deploy/Procfile."""

    def __init__(self, env: dict[str, str], beat: bool, tag: str) -> None:
        self.env, self.beat, self.tag = env, beat, tag
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logdir = f"/tmp/viop-bench-{tag}"  # noqa: S108
        os.makedirs(self.logdir, exist_ok=True)

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(f"{self.logdir}/{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes the pool too
        )
        log.close()

    def start_worker(self, n: int) -> None:
        self._start(
            f"worker{n}",
            [
                str(BIN / "celery"),
                "-A",
                "virtualiop",
                "worker",
                "-l",
                "warning",
                "--concurrency",
                "2",
                "-n",
                f"bench{n}-{self.tag}@%h",
                "-I",
                "bench.tasks",
                "--without-gossip",
                "--without-mingle",
            ],
        )

    def __enter__(self) -> Workers:
        self.start_worker(1)
        self.start_worker(2)
        if self.beat:
            self._start(
                "beat",
                [
                    str(BIN / "celery"),
                    "-A",
                    "virtualiop",
                    "beat",
                    "-l",
                    "warning",
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile",
                    f"{self.logdir}/beat.pid",
                ],
            )
        return self

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with_suppress(lambda p=proc: os.killpg(p.pid, signal.SIGTERM))
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with_suppress(lambda p=proc: os.killpg(p.pid, signal.SIGKILL))
                proc.wait()


def with_suppress(fn) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(ProcessLookupError):
        fn()


def _redis():
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


def _due_times(count: int) -> tuple[dt.datetime, list[dt.datetime]]:
    """All due inside one minute that starts at least 75 s from now."""
    now = dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(seconds=75)).replace(second=0, microsecond=0) + dt.timedelta(
        minutes=1
    )
    rng = random.Random(count)
    return start, [start + dt.timedelta(seconds=rng.random() * 59.9) for _ in range(count)]


def _outbox_rows(count: int, key: str) -> tuple[dict[str, dt.datetime], dt.datetime]:
    from apps.accounts.models import User
    from apps.notifications.models import Channel, Kind, Outbox, dedupe_key_for

    Outbox.objects.filter(event_key__startswith=EVENT_PREFIX).delete()
    recipients = list(
        User.objects.filter(email__startswith="pat", email__endswith="@bench.test").order_by("pk")
    )
    assert recipients, "seed first: python -m bench.seed"
    # Without settings a recipient has the default quiet hours (21:00-08:00 Pacific for the
    # bench patients): run at night, every reminder would be deferred to the morning. This
    # measures dispatch, so the bench recipients have none.
    from apps.notifications.models import NotificationSettings

    for user in recipients:
        NotificationSettings.objects.update_or_create(
            user=user, defaults={"quiet_start": None, "quiet_end": None}
        )
    start, dues = _due_times(count)
    rows = []
    for i, due in enumerate(dues):
        user = recipients[i % len(recipients)]
        event_key = f"{EVENT_PREFIX}:{key[-8:]}:{i}"
        kind = Kind.SESSION_REMINDER
        rows.append(
            Outbox(
                recipient=user,
                kind=kind,
                channel=Channel.EMAIL,
                event_key=event_key,
                payload={},
                due_at=due,
                dedupe_key=dedupe_key_for(
                    recipient_id=user.pk, event_key=event_key, kind=kind, channel=Channel.EMAIL
                ),
            )
        )
    made = Outbox.objects.bulk_create(rows, batch_size=2000)
    return {str(r.pk): r.due_at for r in made}, start


def _unknown_ids(due: dict[str, dt.datetime]) -> set[str]:
    """Rows of this run left "outcome unknown" (their worker died handing them over)."""
    from apps.notifications.models import Outbox, Status

    rows = Outbox.objects.filter(event_key__startswith=EVENT_PREFIX, status=Status.UNKNOWN)
    return {str(pk) for pk in rows.values_list("pk", flat=True)} & due.keys()


def _wait_and_measure(
    due: dict[str, dt.datetime],
    key: str,
    bound: float,
    workers: Workers | None,
    kill_at_half: bool,
    start: dt.datetime,
) -> dict:
    client = _redis()
    end_by = start.timestamp() + 60 + bound
    killed_at = None
    half_deadline = start.timestamp() + 60 + bound / 2
    unknown: set[str] = set()
    while time.time() < end_by:
        # Only this run's ids: the planner's own reminders go through the same backend.
        delivered = {k.decode() for k in client.hkeys(f"{key}:at")} & due.keys()
        done = len(delivered)
        if killed_at is not None:
            unknown = _unknown_ids(due)
        if len(delivered | unknown) >= len(due):
            break
        if (
            kill_at_half
            and killed_at is None
            and (done >= len(due) / 2 or time.time() >= half_deadline)
        ):
            assert workers is not None
            workers.kill("worker1")
            killed_at = done
            time.sleep(5)
            workers.start_worker(1)
        time.sleep(1)
    counts = {
        k.decode(): int(v) for k, v in client.hgetall(f"{key}:count").items() if k.decode() in due
    }
    at = {k.decode(): float(v) for k, v in client.hgetall(f"{key}:at").items() if k.decode() in due}
    waited_until = time.time()
    if killed_at is not None:
        unknown = _unknown_ids(due)
    lateness = []
    for ident, due_at in due.items():
        sent = at.get(ident)
        if sent is None and ident in unknown:
            continue  # never to be sent: no lateness to measure
        # Unsent by the bound: count it as at least as late as the wait lasted.
        lateness.append((sent if sent is not None else waited_until) - due_at.timestamp())
    client.delete(f"{key}:count", f"{key}:at")
    return {
        "delivered": len(at),
        "unknown": len(unknown),
        "unknown_delivered": len(unknown & at.keys()),
        "unsent": len(due.keys() - at.keys() - unknown),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "p50": percentile(lateness, 50),
        "p99": percentile(lateness, 99),
        "max": max(lateness) if lateness else float("nan"),
        "killed_after": killed_at,
    }


def _outbox_run(count: int, bound: float, env: dict[str, str], kill: bool) -> dict:
    from apps.notifications.models import Outbox

    key = f"bench:mail:{uuid.uuid4().hex[:10]}"
    due, start = _outbox_rows(count, key)
    env = dict(
        env, BENCH_MAIL_KEY=key, NOTIFICATIONS_EMAIL_BACKEND="bench.mailbackend.CountingBackend"
    )
    with Workers(env, beat=True, tag="rem-kill" if kill else "rem") as workers:
        data = _wait_and_measure(due, key, bound, workers, kill, start)
    data["statuses"] = dict(
        Counter(
            Outbox.objects.filter(pk__in=[int(i) for i in due]).values_list("status", flat=True)
        )
    )
    return data


def _baseline_run(count: int, bound: float, env: dict[str, str]) -> dict:
    from virtualiop.celery import app

    key = f"bench:base:{uuid.uuid4().hex[:10]}"
    start, dues = _due_times(count)
    due = {str(i): d for i, d in enumerate(dues)}
    with Workers(env, beat=False, tag="rem-base"):
        for ident, d in due.items():
            app.send_task("bench.record", args=[int(ident), key], eta=d)
        return _wait_and_measure(due, key, bound, None, False, start)


def run(count: int = 10_000, bound: float = 420) -> Result:
    django_setup()
    env = require_services()
    env.update(DEBUG="0", TESTING="0", LOG_LEVEL="WARNING", EMAIL_URL="dummymail://")
    plain = _outbox_run(count, bound, env, kill=False)
    killed = _outbox_run(count, bound, env, kill=True)
    base = _baseline_run(count, bound, env)
    result = Result(
        "reminders",
        f"Reminders: {count:,} e-mail reminders due in one minute, 2 worker processes x 2 + beat; "
        f"waited at most {bound:g} s after the minute",
    )
    for label, d in (("as is", plain), ("worker SIGKILLed halfway", killed)):
        result.rows.append(Row(f"{label}: p50 lateness", d["p50"], base["p50"], "s"))
        result.rows.append(
            Row(
                f"{label}: p99 lateness",
                d["p99"],
                base["p99"],
                "s",
                f"<= {GOAL_P99_S:.0f} s",
                d["p99"] <= GOAL_P99_S and d["unsent"] == 0,
                note="unsent rows count as late as the wait" if d["unsent"] else "",
            )
        )
        result.rows.append(
            Row(
                f"{label}: delivered within the bound",
                d["delivered"],
                base["delivered"],
                "",
                f"{count:,} less any unknown",
                d["unsent"] == 0,
                note=f"{d['unsent']} neither delivered nor unknown" if d["unsent"] else "",
            )
        )
        if d["unknown"]:
            result.rows.append(
                Row(
                    f"{label}: outcome unknown, not sent again",
                    d["unknown"],
                    0,
                    "",
                    note=f"{d['unknown_delivered']} of them had reached the mail backend",
                )
            )
        result.rows.append(
            Row(
                f"{label}: duplicate sends",
                d["duplicates"],
                base["duplicates"],
                "",
                "0",
                d["duplicates"] == 0,
            )
        )
        result.notes.append(
            f"{label}: outbox statuses at the end {d['statuses']}"
            + (
                f"; worker 1 killed after {d['killed_after']} deliveries"
                if d.get("killed_after") is not None
                else ""
            )
        )
    result.notes.append(
        "baseline: the same two workers running a no-op task per reminder, sent with a Celery "
        "ETA at the due time (no outbox, database or rendering)."
    )
    return result


if __name__ == "__main__":
    import argparse

    from bench.common import table

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--bound", type=float, default=90)
    ns = parser.parse_args()
    print(table(run(ns.count, ns.bound)))
