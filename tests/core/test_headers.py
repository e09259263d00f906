"""Content-Security-Policy and Permissions-Policy on every response: strict everywhere, and
camera, microphone and screen sharing only on the pages that show live video."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MEDIA_FEATURES = ("camera", "microphone", "display-capture")
DENIED_EVERYWHERE = ("geolocation", "payment", "usb", "serial", "hid", "midi")


def csp_of(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def permissions_of(response) -> dict[str, str]:
    header = response.headers.get("Permissions-Policy")
    assert header, f"no Permissions-Policy on {response.request['PATH_INFO']}"
    return dict(item.strip().split("=", 1) for item in header.split(","))


def assert_strict_csp(response, *, host: str = "testserver", scheme: str = "ws") -> None:
    csp = csp_of(response)
    where = response.request["PATH_INFO"]
    assert csp["default-src"] == ["'self'"], where
    for directive in ("script-src", "style-src"):
        sources = csp[directive]
        assert sources[0] == "'self'", where
        # Nothing but our own files and, where a page asked for one, this response's nonce.
        assert all(re.fullmatch(r"'nonce-[A-Za-z0-9+/=]+'", s) for s in sources[1:]), where
    assert "script-src-attr" not in csp and "style-src-attr" not in csp, where
    assert csp["img-src"] == ["'self'", "data:"], where
    assert csp["connect-src"] == ["'self'", f"{scheme}://{host}"], where
    assert csp["object-src"] == ["'none'"], where
    assert csp["base-uri"] == ["'none'"], where
    assert csp["form-action"] == ["'self'"], where
    assert csp["frame-ancestors"] == ["'none'"], where


def assert_media_denied(response) -> None:
    policy = permissions_of(response)
    for feature in (*MEDIA_FEATURES, *DENIED_EVERYWHERE):
        assert policy[feature] == "()", (response.request["PATH_INFO"], feature)


def every_path() -> Iterator[str]:
    """Every URL the project routes, with made-up ids (most answer 404, 302 or 405)."""
    samples = {"int": "1", "slug": "x", "str": "x", "path": "1", "uuid": "0" * 32}

    def walk(patterns, prefix: str) -> Iterator[str]:
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + route)
            elif isinstance(entry, URLPattern):
                path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: samples[m.group(1) or "str"], route)
                if not path.startswith("^"):
                    yield "/" + prefix + path

    # Django admin's routes are regular expressions (its catch-all); its pages are
    # reached through the named ones above them.
    for path in walk(get_resolver().url_patterns, ""):
        if not any(c in path for c in "^$()?\\"):
            yield path


def test_every_response_carries_the_strict_csp_and_denies_media(login, patient, clinician, admin):
    paths = sorted(set(every_path()))
    assert len(paths) > 150  # the app's pages, allauth's and the admin's
    for user in (None, patient, clinician, admin):
        browser = Client()
        if user is not None:
            login(browser, user)
        for path in paths:
            response = browser.get(path)
            assert response.status_code < 500, path
            assert_strict_csp(response)
            assert_media_denied(response)


def test_error_and_redirect_responses_carry_the_policies(client, login, patient):
    for response in (
        client.get("/no-such-page/"),  # 404
        client.get("/progress/"),  # 302 to the login page
        login(client, patient).get("/admin/"),  # 302 away from admin
        client.post("/accounts/login/", {"login": "x", "password": "y"}, HTTP_HOST="evil.test"),
    ):
        assert response.headers.get("Permissions-Policy")
        assert response.headers.get("Content-Security-Policy")
    # A host outside ALLOWED_HOSTS gets no socket origin of its own in connect-src.
    assert "evil.test" not in response.headers["Content-Security-Policy"]


def test_the_csrf_failure_page_needs_no_inline_style(patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(patient)
    response = client.post("/accounts/profile/", {"full_name": "x"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form has expired" in body
    assert "<style" not in body and "style=" not in body and "<script" not in body
    assert_strict_csp(response)


def test_the_room_page_alone_may_use_camera_microphone_and_screen(
    client, login, program, clinician, patient, outsider
):
    session = make_session(program, [clinician], [patient])
    for member in (patient, clinician):
        response = login(Client(), member).get(f"/rooms/{session.pk}/")
        assert response.status_code == 200
        policy = permissions_of(response)
        for feature in MEDIA_FEATURES:
            assert policy[feature] == "(self)", feature
        for feature in DENIED_EVERYWHERE:
            assert policy[feature] == "()", feature
        assert_strict_csp(response)
    # Someone who may not enter gets the 404 with everything denied.
    refused = login(Client(), outsider).get(f"/rooms/{session.pk}/")
    assert refused.status_code == 404
    assert_media_denied(refused)
    # Other pages of a member deny them.
    assert_media_denied(login(Client(), patient).get("/"))


def test_secure_pages_allow_the_wss_origin_of_their_own_host(client, login, patient):
    response = login(client, patient).get("/", secure=True, HTTP_HOST="localhost")
    assert_strict_csp(response, host="localhost", scheme="wss")


def test_a_nonce_is_added_only_when_a_page_uses_it(client, login, clinician, patient):
    plain = login(client, clinician).get("/")
    assert csp_of(plain)["style-src"] == ["'self'"]
    summary = client.get(f"/progress/patients/{patient.pk}/summary/")
    assert summary.status_code == 200
    nonce = re.search(r'<style nonce="([^"]+)">', summary.content.decode())
    assert nonce
    assert f"'nonce-{nonce.group(1)}'" in csp_of(summary)["style-src"]


SETTINGS_ENV = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_SETTINGS_MODULE": "virtualiop.settings",
    "TESTING": "true",
    "VAR_DIR": "/tmp/viop-csp-settings-test",
}


def test_media_origins_setting_adds_the_video_server_to_connect_src():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['connect-src'])"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **SETTINGS_ENV,
            "CSP_MEDIA_ORIGINS": "wss://video.example.org,https://video.example.org",
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[\"'self'\", 'wss://video.example.org', 'https://video.example.org']"


def test_media_origins_setting_refuses_anything_but_an_origin():
    """A value with a space or ';' would smuggle another source or directive into the CSP."""
    for bad in ("wss://video.example.org; script-src *", "*", "video.example.org", "'unsafe-eval'"):
        run = subprocess.run(  # noqa: S603
            [sys.executable, "-c", "import django; django.setup()"],
            cwd=ROOT,
            env={**SETTINGS_ENV, "CSP_MEDIA_ORIGINS": bad},
            capture_output=True,
            text=True,
        )
        assert run.returncode != 0 and "CSP_MEDIA_ORIGINS" in run.stderr, bad


TEMPLATE_DIRS = [ROOT / "templates", *sorted(ROOT.glob("apps/*/templates"))]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
UNNONCED_STYLE = re.compile(r"<style(?![^>]*\bnonce=)[^>]*>")
EVENT_HANDLER = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.S)
STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.S)
# What htmx would have to eval, which base.html's htmx-config forbids (allowEval: false).
HTMX_EVAL = re.compile(
    r"""\shx-on\b|\shx-vars=|\shx-(?:vals|headers)=["']\s*js:|\shx-trigger="[^"]*\["""
)


def test_templates_have_no_inline_script_handler_style_or_javascript_url():
    """The CSP would refuse them: move scripts and styles to static files (or, where that
    cannot be, give the block nonce="{{ request.csp_nonce }}"). E-mails are not pages."""
    problems = []
    for base in TEMPLATE_DIRS:
        for path in base.rglob("*.html"):
            if "emails" in path.relative_to(base).parts:
                continue
            text = re.sub(
                r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", "", path.read_text(), flags=re.S
            )
            # the PDF variant of a page is not shown in a browser
            text = re.sub(r"\{% if pdf %\}.*?\{% endif %\}", "", text, flags=re.S)
            for name, pattern in (
                ("inline script", INLINE_SCRIPT),
                ("style block without nonce", UNNONCED_STYLE),
                ("inline event handler", EVENT_HANDLER),
                ("style attribute", STYLE_ATTRIBUTE),
                ("javascript: URL", re.compile(r"javascript:", re.I)),
                ("htmx attribute that needs eval", HTMX_EVAL),
            ):
                problems += [f"{path.relative_to(ROOT)}: {name}" for _ in pattern.findall(text)]
    assert problems == []
