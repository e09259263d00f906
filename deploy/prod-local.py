#!/usr/bin/env python3
"""Run the production topology on this machine: nginx in front, daphne x N for /ws/,
gunicorn (or daphne) for HTTP, a Celery worker and beat, on this machine's PostgreSQL and Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/virtualiop \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python deploy/prod-local.py --migrate

The processes and their command lines are those of deploy/Procfile and deploy/systemd/ (only
ports and worker counts differ); nginx runs as this user's own process from a configuration
rendered from deploy/prod-local-nginx.conf.template into a temporary directory. Ports:
nginx on --port (default 8700), HTTP on port+1, daphne on port+2, port+3, ...

Django runs with DEBUG off but without DJANGO_ENV=production: production settings force HTTPS
redirects and Secure cookies, which a plain-HTTP loopback cannot honour (the TLS part is the
only thing this topology leaves out).

When every process answers it prints one line ``READY {json}`` (ports, pids, run directory)
and writes the same JSON to <run dir>/state.json; SIGINT/SIGTERM stops everything it started.
Children get SIGTERM if this launcher dies (PR_SET_PDEATHSIG), so nothing is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
# As in deploy/Procfile: daphne's message and frame limits (1 MB by default, then the socket
# is dropped) above the app's 64 KB, so the app answers an oversized frame itself.
DAPHNE_SIZE_LIMITS = [
    "--websocket-max-message-size",
    "4194304",
    "--websocket-max-frame-size",
    "4194304",
]
TEMPLATE = ROOT / "deploy" / "prod-local-nginx.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Topology:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.port: int = args.port
        self.http_port = self.port + 1
        self.ws_ports = [self.port + 2 + i for i in range(args.ws)]
        self.run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="viop-prod-local-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("DATABASE_URL", "REDIS_URL"):
            if not env.get(name):
                sys.exit(f"prod-local: {name} is required (PostgreSQL and Redis of this machine).")
        if not env["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
            sys.exit("prod-local: DATABASE_URL must be a PostgreSQL URL.")
        if not env["REDIS_URL"].startswith("redis://"):
            sys.exit("prod-local: REDIS_URL must be a redis:// URL.")
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        env.update(
            DJANGO_SETTINGS_MODULE=self.args.settings,
            DJANGO_ENV="development",
            DEBUG="0",
            TESTING="0",
            ALLOWED_HOSTS=env.get("ALLOWED_HOSTS", "127.0.0.1,localhost"),
            PYTHONUNBUFFERED="1",
            TRUSTED_PROXY_COUNT="1",  # nginx in front
        )
        env.setdefault("VAR_DIR", str(self.run_dir / "var"))
        env.setdefault("LOG_LEVEL", "WARNING")
        return env

    # --- processes ---------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], **extra_env: str) -> None:
        log = open(self.run_dir / f"{name}.log", "ab")  # noqa: SIM115 - child keeps it
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        log.close()

    def _daphne(self, port: int) -> list[str]:
        return [
            str(BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            # The client's address from nginx's X-Real-IP, which it sets itself (the first
            # X-Forwarded-For entry that daphne would read is whatever the client sent).
            "--proxy-headers",
            "--proxy-headers-host",
            "X-Real-IP",
            # Above the app's 64 KB frame limit: the app answers frame_too_large itself.
            *DAPHNE_SIZE_LIMITS,
            "virtualiop.asgi:application",
        ]

    def start(self) -> dict[str, object]:
        busy = [p for p in [self.port, self.http_port, *self.ws_ports] if _port_open(p)]
        if busy:
            sys.exit(f"prod-local: port(s) {busy} already in use.")
        if self.args.migrate:
            subprocess.run(
                [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT,
                env=self.env,
                check=True,
            )
        if self.args.web == "gunicorn":
            self._start(
                "web",
                [
                    str(BIN / "gunicorn"),
                    "virtualiop.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{self.http_port}",
                    "--workers",
                    str(self.args.web_workers),
                    "--timeout",
                    "30",
                    "--logger-class",
                    "virtualiop.gunicorn_logging.AccessLogger",
                    "--access-logformat",
                    '%(h)s "%(m)s %(U)s" %(s)s %(L)ss %({x-request-id}o)s',
                    "--access-logfile",
                    str(self.run_dir / "web-access.log") if self.args.access_log else "/dev/null",
                ],
            )
        else:
            # Pages under ASGI: each sync view runs in a fresh thread, which would keep its own
            # persistent connection until PostgreSQL refuses more (Django: no CONN_MAX_AGE
            # under ASGI). The /ws/ processes keep theirs: a fixed pool of threads holds them.
            self._start("web", self._daphne(self.http_port), CONN_MAX_AGE="0")
        for index, port in enumerate(self.ws_ports, start=1):
            self._start(f"ws{index}", self._daphne(port))
        if self.args.celery:
            self._start(
                "worker",
                [
                    str(BIN / "celery"),
                    "-A",
                    "virtualiop",
                    "worker",
                    "-l",
                    "info",
                    "--concurrency",
                    str(self.args.worker_concurrency),
                    "-n",
                    f"prodlocal{self.port}@%h",
                ],
            )
            self._start(
                "beat",
                [
                    str(BIN / "celery"),
                    "-A",
                    "virtualiop",
                    "beat",
                    "-l",
                    "info",
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile",
                    str(self.run_dir / "beat.pid"),
                ],
            )
        self._start_nginx()
        self._wait_ready()
        state: dict[str, object] = {
            "url": f"http://127.0.0.1:{self.port}",
            "port": self.port,
            "http_port": self.http_port,
            "ws_ports": self.ws_ports,
            "web": self.args.web,
            "run_dir": str(self.run_dir),
            "pids": {name: proc.pid for name, proc in self.procs.items()},
        }
        (self.run_dir / "state.json").write_text(json.dumps(state))
        return state

    def _start_nginx(self) -> None:
        static_parent = self.run_dir / "static-root"
        static_parent.mkdir(exist_ok=True)
        link = static_parent / "static"
        if not link.exists():
            link.symlink_to(ROOT / "static")
        (self.run_dir / "nginx-tmp").mkdir(exist_ok=True)
        self.run_dir.chmod(0o755)
        text = TEMPLATE.read_text()
        servers = " ".join(f"server 127.0.0.1:{p} max_fails=0;" for p in self.ws_ports)
        for key, value in {
            "@RUN_DIR@": str(self.run_dir),
            "@PORT@": str(self.port),
            "@HTTP_PORT@": str(self.http_port),
            "@WS_SERVERS@": servers,
            "@STATIC_PARENT@": str(static_parent),
            "@ACCESS_LOG@": f"{self.run_dir}/nginx-access.log viop"
            if self.args.access_log
            else "off",
        }.items():
            text = text.replace(key, value)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(text)
        self._start(
            "nginx",
            [
                NGINX,
                "-e",
                str(self.run_dir / "nginx-error.log"),
                "-p",
                str(self.run_dir),
                "-c",
                str(conf),
            ],
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.args.timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
            if dead:
                self.stop()
                raise SystemExit(f"prod-local: {dead} exited early; logs in {self.run_dir}")
            if all(_port_open(p) for p in self.ws_ports):
                with (
                    contextlib.suppress(urllib.error.URLError, OSError),
                    urllib.request.urlopen(url, timeout=5) as response,  # noqa: S310
                ):
                    if response.status == 200 and self._worker_ready():
                        return
            time.sleep(0.5)
        self.stop()
        raise SystemExit(
            f"prod-local: not ready after {self.args.timeout}s; logs in {self.run_dir}"
        )

    def _worker_ready(self) -> bool:
        if not self.args.celery:
            return True
        log = self.run_dir / "worker.log"
        return log.exists() and b" ready." in log.read_bytes()

    def stop(self) -> None:
        for name in (
            "nginx",
            "web",
            *[n for n in self.procs if n.startswith("ws")],
            "beat",
            "worker",
        ):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PROD_LOCAL_PORT", 8700)))
    parser.add_argument("--web", choices=["gunicorn", "daphne"], default="gunicorn")
    parser.add_argument(
        "--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2))
    )
    parser.add_argument("--ws", type=int, default=2, help="daphne processes for /ws/")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--no-celery", dest="celery", action="store_false")
    parser.add_argument("--migrate", action="store_true", help="run migrate first")
    parser.add_argument(
        "--settings", default=os.environ.get("DJANGO_SETTINGS_MODULE", "virtualiop.settings")
    )
    parser.add_argument("--run-dir", default="")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--timeout", type=float, default=90)
    return parser.parse_args(argv)


def main() -> None:
    topology = Topology(parse_args())
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        state = topology.start()
        print("READY " + json.dumps(state), flush=True)
        print(f"  {state['url']}/  (nginx) - logs in {state['run_dir']} - Ctrl-C stops", flush=True)
        while True:
            for name, proc in topology.procs.items():
                if proc.poll() is not None:
                    print(f"prod-local: {name} exited with {proc.returncode}", flush=True)
                    raise KeyboardInterrupt
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        topology.stop()


if __name__ == "__main__":
    main()
