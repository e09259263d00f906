"""End to end with a real Celery worker on the Redis broker, killed with SIGKILL mid-send.

Needs REDIS_URL and PostgreSQL (the worker subprocess must reach the pytest test database,
which an in-memory SQLite database cannot offer); skipped otherwise, runs in CI.

What it shows: reminders planned and dispatched by the worker arrive; after the whole worker
(process group) is killed with SIGKILL while e-mails are in flight, its rows are taken back
once their lease runs out and a fresh worker sends every reminder the dead one had not offered to the provider,
while the ones it was handing over are left "outcome unknown" (not sent again) — and
nothing is sent twice: the mailbox holds each notification at most once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.notifications.models import Notification, NotificationSettings, Outbox, Status

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (real Redis broker)"),
]

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
MEMBERS = 5
LEASE_SECONDS = 10


def _database_url() -> str:
    s = connection.settings_dict
    user = urllib.parse.quote(s.get("USER") or "")
    password = urllib.parse.quote(s.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _clear_broker() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")
    client.close()


class Worker:
    def __init__(self, tmp: Path, *, send_delay: float, name: str):
        self.log = tmp / f"{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "VAR_DIR": str(tmp / "var"),
            "PYTHONPATH": str(ROOT),
            "NOTIFICATIONS_EMAIL_BACKEND": "tests.notifications.backends.SlowFileEmailBackend",
            "NOTIF_TEST_MAILBOX": str(tmp / "mailbox.jsonl"),
            "NOTIF_TEST_SEND_DELAY": str(send_delay),
            "NOTIFICATIONS_SENDING_LEASE_SECONDS": str(LEASE_SECONDS),
            "SMS_BACKEND": "file",
            "SMS_FILE_PATH": str(tmp / "sms.jsonl"),
            "CONN_MAX_AGE": "0",
        }
        env.pop("TEST_DB_SUFFIX", None)
        env.pop("PYTEST_CURRENT_TEST", None)
        self.handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [
                CELERY,
                "-A",
                "virtualiop",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes the pool too
        )
        deadline = time.monotonic() + 120  # a loaded CI machine starts Celery slowly
        while " ready." not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.handle.close()


def _mailbox(tmp: Path) -> list[dict]:
    path = tmp / "mailbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _send(task: str) -> None:
    from virtualiop.celery import app

    app.send_task(task)


@pytest.mark.django_db(transaction=True)
def test_real_worker_delivers_reminders_at_most_once_even_when_killed_mid_send(
    tmp_path, program, clinician
):
    if connection.vendor != "postgresql":
        pytest.skip("the worker subprocess needs a shared PostgreSQL test database")
    from apps.scheduling.models import Group, GroupMembership, Session
    from tests.factories import patient_in

    _clear_broker()
    now = timezone.now().replace(second=0, microsecond=0)
    group = Group.objects.create(
        program=program,
        name="Evening",
        kind="process",
        track="evening",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        start_time=dt.time(18, 0),
        start_date=dt.date(2026, 1, 1),
    )
    starts = now + dt.timedelta(minutes=59)  # the 1-hour reminder is due now
    Session.objects.create(
        group=group,
        occurrence_date=starts.astimezone(program.time_zone).date(),
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=3),
    )
    for n in range(MEMBERS):
        user = patient_in(program, email=f"member{n}@example.test", full_name=f"Member {n}")
        NotificationSettings.objects.create(user=user, quiet_start=None, quiet_end=None)
        GroupMembership.objects.create(group=group, patient=user, from_date=dt.date(2026, 1, 1))

    first = Worker(tmp_path, send_delay=4, name="first")
    try:
        _send("notifications.plan")
        deadline = time.monotonic() + 120
        while Outbox.objects.filter(kind="session_reminder").count() < 2 * MEMBERS:
            assert time.monotonic() < deadline, first.log.read_text()[-3000:]
            time.sleep(0.3)
        _send("notifications.dispatch_due")
        # Wait until some e-mails are out and another has just started (the backend sleeps
        # SEND_DELAY seconds before "delivering"), so the kill lands in the middle of a send.
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, first.log.read_text()[-3000:]
            done = {m["id"] for m in _mailbox(tmp_path)}
            fresh = {
                p.name.rsplit("-", 1)[1]
                for p in tmp_path.glob("mailbox.jsonl.sending-*")
                if time.time() - p.stat().st_mtime < 1.0
            }
            if done and fresh - done:
                break
            time.sleep(0.05)
    finally:
        first.kill()  # SIGKILL mid-send: no chance to clean up or ack

    in_flight = fresh - done
    emails = Outbox.objects.filter(channel="email")
    assert emails.filter(status=Status.SENT).count() < MEMBERS
    in_hand = emails.filter(pk__in=[int(i) for i in in_flight], status=Status.HANDOVER)
    assert in_hand.count() == len(in_flight)

    second = Worker(tmp_path, send_delay=0, name="second")
    try:
        deadline = time.monotonic() + LEASE_SECONDS + 120
        while Outbox.objects.exclude(status__in=[Status.SENT, Status.UNKNOWN]).exists():
            assert time.monotonic() < deadline, (
                list(Outbox.objects.values_list("pk", "status", "last_error")),
                second.log.read_text()[-3000:],
            )
            _send("notifications.dispatch_due")  # what beat does every 30 s
            time.sleep(2)
    finally:
        second.kill()
        _clear_broker()

    mailbox = _mailbox(tmp_path)
    counts = Counter(m["id"] for m in mailbox)
    assert set(counts.values()) == {1}, counts  # nothing sent twice
    sent = {str(pk) for pk in emails.filter(status=Status.SENT).values_list("pk", flat=True)}
    unknown = {str(pk) for pk in emails.filter(status=Status.UNKNOWN).values_list("pk", flat=True)}
    assert set(counts) == sent  # every row marked sent arrived, and only those
    # The ones in the provider's hands at the kill (here never finished) are not sent again;
    # every other reminder arrives.
    assert in_flight <= unknown and not unknown & set(counts)
    assert len(sent) + len(unknown) == MEMBERS and len(unknown) <= 2  # concurrency 2
    assert all(m["subject"].startswith("Reminder: your group starts at") for m in mailbox)
    assert Notification.objects.count() == MEMBERS  # one in-app notification each
    recovered = emails.filter(status=Status.SENT).exclude(pk__in=[int(i) for i in done])
    assert recovered.exists() and all(row.attempts >= 2 for row in recovered)
