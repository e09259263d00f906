from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="x" * 20 + "production-secret-key-for-the-deploy-check-0123456789",
        ALLOWED_HOSTS="iop.example.org",
        SITE_URL="https://iop.example.org",
        EMAIL_URL="smtp+tls://user:password@smtp.example.org:587",
        TESTING="0",
    )
    env.update(extra)
    return env


def test_check_deploy_is_clean_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("f" * 64 + "\n")
    env = _production_env(SECRET_KEY_FILE=str(secret))
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','virtualiop.settings'); django.setup(); from django.conf import settings; print(settings.SECRET_KEY == 'f' * 64)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "True", result.stderr


def test_seed_demo_refuses_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "never loaded" in result.stderr


def test_make_runs_access_log_leaves_out_query_strings():
    """A caseload search is a patient's name: the development server logs the path only."""
    import io

    from virtualiop.devserver import PathOnlyAccessLog

    out = io.StringIO()
    log = PathOnlyAccessLog(out)
    log(
        "http",
        "complete",
        {
            "client": ["127.0.0.1", 5000],
            "method": "GET",
            "path": "/progress/caseload/?q=Zebediah+Smith",
            "status": 200,
            "size": 10,
        },
    )
    log("websocket", "connecting", {"client": ["127.0.0.1", 5001], "path": "/ws/me/?x=1"})
    text = out.getvalue()
    assert "/progress/caseload/" in text and "/ws/me/" in text
    assert "Zebediah" not in text and "?" not in text
    from pathlib import Path

    procfile = (Path(__file__).resolve().parents[2] / "deploy" / "Procfile.dev").read_text()
    assert "virtualiop.devserver" in procfile


@pytest.mark.parametrize("module", ["virtualiop.wsgi", "virtualiop.asgi"])
def test_a_server_process_keeps_the_garbage_collectors_full_passes_rare(module):
    """gunicorn workers import virtualiop.wsgi, daphne virtualiop.asgi: Django and the apps,
    loaded once and kept for the process's life, are frozen (gc.freeze), and the young
    generation is large enough that a frame's short-lived objects die in it instead of
    bringing on full collections (which stalled every socket of a daphne process)."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc; before = gc.get_freeze_count(); "
            f"import {module}; "
            "print(before, gc.get_freeze_count(), *gc.get_threshold())",
        ],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    before, after, young, middle, old = map(int, result.stdout.split())
    assert before == 0 and after > 10_000
    assert young == 20_000 and (middle, old) == (10, 10)


def test_every_make_run_process_builds_links_with_the_same_site_url(tmp_path):
    """honcho gives each process its own PORT (web 8102, worker 8202): links in e-mail and
    SMS, built by the worker, must still point at the web's port."""
    recipe = next(
        line.strip()
        for line in (ROOT / "Makefile").read_text().splitlines()
        if "honcho" in line and "-f deploy/Procfile.dev start" in line
    )
    # Each process writes the URL it would use, then waits for the others (honcho stops
    # every process when the first one ends).
    script = tmp_path / "show.py"
    script.write_text(
        "import os, sys, time\n"
        "sys.path.insert(0, os.getcwd())\n"
        "import django\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "out = os.path.join(sys.argv[1], sys.argv[2] + '.url')\n"
        "open(out, 'w').write(settings.SITE_URL)\n"
        "deadline = time.time() + 60\n"
        "while len([f for f in os.listdir(sys.argv[1]) if f.endswith('.url')]) < 3:\n"
        "    if time.time() > deadline: break\n"
        "    time.sleep(0.2)\n"
    )
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "".join(
            f"{name}: {sys.executable} {script} {tmp_path} {name}\n"
            for name in ("web", "worker", "beat")
        )
    )
    command = (
        recipe.replace("$(BIN)/honcho", str(Path(sys.executable).parent / "honcho"))
        .replace("$(PORT)", "8102")
        .replace("$$", "$")
        .replace("deploy/Procfile.dev", str(procfile))
        .replace("var/video.env", str(tmp_path / "video.env"))
    )
    (tmp_path / "video.env").write_text("VIDEO_ENABLED=0\n")
    env = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "PORT"}}
    env["DJANGO_SETTINGS_MODULE"] = "virtualiop.settings"
    result = subprocess.run(
        ["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    urls = [path.read_text() for path in tmp_path.glob("*.url")]
    assert len(urls) == 3, result.stdout + result.stderr
    assert set(urls) == {"http://127.0.0.1:8102"}


@pytest.mark.parametrize("email_url", [None, "consolemail://", "memorymail://", "dummymail://"])
def test_production_refuses_to_run_without_a_real_email_server(email_url):
    env = _production_env()
    env.pop("EMAIL_URL")
    if email_url:
        env["EMAIL_URL"] = email_url
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "virtualiop.E001" in result.stderr + result.stdout
