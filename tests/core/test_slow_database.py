"""A slow database (a lock held on a table every page reads): pages and sockets answer
"busy" instead of hanging, /healthz says so, and nginx does not eject every server."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from django.db import connection, connections

ROOT = Path(__file__).resolve().parents[2]
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statement timeouts are PostgreSQL's"
)


class _TableLock:
    """ACCESS EXCLUSIVE on ``table`` from a second connection, as a stuck migration or a
    long transaction holds it, until released."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.locked = threading.Event()
        self.release = threading.Event()

    def _hold(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("prepare_threshold", None)
        params.pop("options", None)
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params) as conn, conn.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
            self.locked.set()
            self.release.wait(30)
            conn.rollback()

    def __enter__(self):
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(10)


@pytest.fixture
def short_timeout(settings):
    """The web processes' statement timeout, short, on a fresh connection."""
    db = connections["default"]
    options = db.settings_dict.setdefault("OPTIONS", {})
    before = options.get("options", "")
    options["options"] = f"{before} -c statement_timeout=700 -c lock_timeout=500".strip()
    db.close()
    yield
    options["options"] = before
    db.close()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_page_behind_a_lock_answers_busy_not_a_hang(client, login, patient, short_timeout):
    import time

    login(client, patient)
    client.raise_request_exception = False
    with _TableLock("django_session"):
        started = time.monotonic()
        response = client.get("/")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response["Retry-After"]
    assert "We&#x27;re busy right now" in response.content.decode() or "busy right now" in (
        response.content.decode()
    )
    assert elapsed < 5


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_healthz_reports_a_slow_database(client, settings):
    settings.HEALTHZ_DB_BOUND_MS = 300
    assert client.get("/healthz").status_code == 200
    with _TableLock("django_session"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "slow"


def test_a_busy_error_is_recognised_through_djangos_wrapping():
    from apps.core.busy import is_database_busy

    class Canceled(Exception):
        sqlstate = "57014"

    class Wrapped(Exception):
        pass

    try:
        try:
            raise Canceled("canceling statement due to statement timeout")
        except Canceled as inner:
            raise Wrapped("wrapped") from inner
    except Wrapped as exc:
        assert is_database_busy(exc)
    assert not is_database_busy(ValueError("x"))


def _configs() -> list[str]:
    site = (ROOT / "deploy" / "nginx-virtualiop.conf").read_text()
    local = (ROOT / "deploy" / "prod-local-nginx.conf.template").read_text()
    local = local.replace("@WS_SERVERS@", "server 127.0.0.1:8702 max_fails=0;")
    return [site, local]


@pytest.mark.parametrize("conf", _configs(), ids=["site", "prod-local"])
def test_nginx_never_ejects_a_server_for_a_slow_answer(conf):
    for block in re.findall(r"upstream \w+ \{[^}]*\}", conf):
        servers = re.findall(r"server [^;]+;", block)
        assert servers and all("max_fails=0" in s for s in servers), block
    for rule in re.findall(r"proxy_next_upstream ([^;]+);", conf):
        assert "timeout" not in rule
    prod_local = (ROOT / "deploy" / "prod-local.py").read_text()
    assert 'max_fails=0;" for p in self.ws_ports' in prod_local


def test_nginx_accepts_the_site_config(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (CI installs it)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=iop.example.org", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (ROOT / "deploy" / "nginx-virtualiop.conf").read_text()
    site = (
        site.replace("/etc/ssl/certs/iop.example.org.pem", str(cert))
        .replace("/etc/ssl/private/iop.example.org.key", str(key))
        .replace("/var/log/nginx/", f"{tmp_path}/")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n{site}\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
