"""No token in any access log: nginx's, gunicorn's or daphne's (issue 24, item 5)."""

from __future__ import annotations

import io
import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from apps.core.logs import SECRET_PATHS, loggable_path
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SECRET = "S3CRETtokenZ9x"
TOKEN_URLS = [
    f"/accounts/password/reset/key/2b-{SECRET}/",
    f"/accounts/confirm-email/{SECRET}/",
    f"/schedule/feed/{SECRET}.ics",
    f"/notifications/unsubscribe/{SECRET}/",
    f"/video/guest/{SECRET}/",
    f"/schedule/feed/{SECRET}.ics?token={SECRET}",
    f"/progress/caseload/?q={SECRET}",
]


@pytest.mark.parametrize("url", TOKEN_URLS)
def test_loggable_path_masks_every_token(url):
    assert SECRET not in loggable_path(url)
    assert loggable_path("/accounts/password/reset/key/done/") == (
        "/accounts/password/reset/key/done/"
    )


def test_every_secret_url_pattern_is_covered():
    """A URL with a token-like argument that no mask covers fails here."""
    from django.urls import get_resolver

    def walk(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern)

    secretive = [
        route
        for route in walk(get_resolver().url_patterns)
        if re.search(r"<(str:)?(token|key)>|\(\?P<(key|token)>", route)
    ]
    assert secretive, "the resolver walk found no token routes"
    for route in secretive:
        sample = "/" + re.sub(r"<[^>]+>|\(\?P<[^>]+>[^)]*\)", f"1-{SECRET}", route)
        sample = sample.replace("^", "").replace("$", "").replace("\\", "")
        assert SECRET not in loggable_path(sample), route


def test_gunicorn_access_log_has_no_token():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from virtualiop.gunicorn_logging import AccessLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s "%(r)s" %(q)s')
    logger = AccessLogger(cfg)
    out = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.stream = out
    for url in TOKEN_URLS:
        path, _, query = url.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": url,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "203.0.113.9",
        }
        resp = SimpleNamespace(status="200 OK", headers=[], sent=10, response_length=10)
        req = SimpleNamespace(headers=[], method="GET", path=path, query=query, uri=url)
        logger.access(resp, req, environ, __import__("datetime").timedelta(seconds=0.1))
    text = out.getvalue()
    assert text.count("\n") == len(TOKEN_URLS)
    assert SECRET not in text
    assert "/schedule/feed/***.ics" in text


def test_gunicorn_access_log_carries_the_request_id():
    """Production's format (deploy/Procfile) ends with the response's X-Request-ID, the id
    the application's own lines for that request carry."""
    import datetime
    import shlex
    from types import SimpleNamespace

    from gunicorn.config import Config

    from virtualiop.gunicorn_logging import AccessLogger

    [web] = [
        ln for ln in (ROOT / "deploy" / "Procfile").read_text().splitlines() if "gunicorn" in ln
    ]
    args = shlex.split(web.partition(":")[2])
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", args[args.index("--access-logformat") + 1])
    logger = AccessLogger(cfg)
    out = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.stream = out
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/today/", "PATH_INFO": "/today/"}
    environ |= {"QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.9"}
    resp = SimpleNamespace(
        status="200 OK", headers=[("X-Request-ID", "4f1c0ffee")], sent=10, response_length=10
    )
    req = SimpleNamespace(headers=[], method="GET", path="/today/", query="", uri="/today/")
    logger.access(resp, req, environ, datetime.timedelta(seconds=0.1))
    assert out.getvalue().rstrip("\n").endswith('"GET /today/" 200 0.100000s 4f1c0ffee')


def test_make_runs_daphne_log_has_no_token():
    from virtualiop.devserver import PathOnlyAccessLog

    out = io.StringIO()
    log = PathOnlyAccessLog(out)
    for url in TOKEN_URLS:
        log(
            "http",
            "complete",
            {"client": ["127.0.0.1", 1], "method": "GET", "path": url, "status": 200, "size": 1},
        )
    assert SECRET not in out.getvalue()


def _nginx_map_block(conf: str) -> str:
    start = conf.index("map $uri $viop_log_uri")
    return conf[start : conf.index("}", start) + 1]


def test_both_nginx_configs_mask_the_same_paths_as_the_app():
    site = (ROOT / "deploy" / "nginx-virtualiop.conf").read_text()
    local = (ROOT / "deploy" / "prod-local-nginx.conf.template").read_text()
    norm = lambda text: re.sub(r"\s+", " ", _nginx_map_block(text))  # noqa: E731
    assert norm(site) == norm(local)
    for conf in (site, local):
        assert "$request_method $viop_log_uri" in conf
        assert '"$request_method $uri"' not in conf
    assert len(re.findall(r'"~\^', site)) == len(SECRET_PATHS)


def test_the_real_nginx_logs_no_token(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (CI installs it)")
    site = (ROOT / "deploy" / "nginx-virtualiop.conf").read_text()
    log_format = re.search(r"log_format viop [^;]+;", site).group(0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""
daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{
  client_body_temp_path {tmp_path}/b; proxy_temp_path {tmp_path}/p; fastcgi_temp_path {tmp_path}/f;
  uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;
  {_nginx_map_block(site)}
  {log_format}
  access_log {tmp_path}/access.log viop;
  server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}
}}
"""
    )
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _listening(port), timeout=5, interval=0.1, what="nginx to listen")
        for url in TOKEN_URLS:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{url}", timeout=5).read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = (tmp_path / "access.log").read_text()
    assert text.count("\n") == len(TOKEN_URLS), text
    assert SECRET not in text, text
    assert "/accounts/password/reset/key/***/" in text


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True
