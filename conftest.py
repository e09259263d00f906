"""Personas for every test (as healthchecks' alice/bob/charlie):

- ``program`` and ``other_program``
- ``clinician``: works in ``program``, MFA enrolled
- ``other_clinician``: works in ``other_program`` only
- ``patient``: the member patient, in ``program``
- ``outsider``: a patient in ``other_program``
- ``admin``: role admin with MFA

``login(client, user)`` signs a persona in as a browser would end up (session with MFA done).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.factories import ProgramFactory, admin_user, clinician_in, patient_in

ARTIFACTS = Path(__file__).parent / "test-artifacts"


@pytest.fixture(autouse=True)
def _fragment_cache_off(settings):
    """Cached fragments (apps.core.fragments) are invalidated after commit, which a test's
    wrapping transaction never reaches; the tests of the cache turn it on themselves."""
    settings.FRAGMENT_CACHE = False


@pytest.fixture(autouse=True)
def _risk_phrases_fresh():
    """The rooms app keeps the active risk phrases per process for a few seconds; a test's
    rolled-back phrases must not outlive it."""
    from apps.rooms.services import risk_phrases_changed

    risk_phrases_changed()
    yield
    risk_phrases_changed()


@pytest.fixture(scope="session", autouse=True)
def _socket_pool_connections_closed(django_db_setup):
    """Socket consumers run database work on a thread pool (apps.core.consumers.off_loop);
    a call still finishing when its test ended can leave that thread's connection open,
    which stops the test database from being dropped. Close them all before it is."""
    yield
    import threading

    from django.db import connections

    from apps.core.consumers import SOCKET_DB_THREADS, _socket_db_pool

    barrier = threading.Barrier(SOCKET_DB_THREADS, timeout=10)

    def close_here() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()  # one job per thread: each waits until all threads hold one
        connections.close_all()

    for future in [_socket_db_pool.submit(close_here) for _ in range(SOCKET_DB_THREADS)]:
        future.result(timeout=30)


@pytest.fixture
def program(db):
    return ProgramFactory(name="Evening Adult IOP", slug="evening-adult")


@pytest.fixture
def other_program(db):
    return ProgramFactory(name="Other Clinic IOP", slug="other-clinic")


@pytest.fixture
def clinician(program):
    return clinician_in(program, email="clinician@example.test", full_name="Carla Clinician")


@pytest.fixture
def other_clinician(other_program):
    return clinician_in(
        other_program, email="other.clinician@example.test", full_name="Oscar Other"
    )


@pytest.fixture
def patient(program, clinician):
    user = patient_in(program, email="patient@example.test", full_name="Pat Member")
    user.patient_profile.primary_clinician = clinician
    user.patient_profile.save(update_fields=["primary_clinician"])
    return user


@pytest.fixture
def outsider(other_program):
    return patient_in(other_program, email="outsider@example.test", full_name="Olive Outsider")


@pytest.fixture
def admin(db):
    return admin_user(email="admin@example.test", full_name="Ada Admin")


@pytest.fixture
def login() -> Callable[[Client, object], Client]:
    def _login(client: Client, user: object) -> Client:
        from apps.accounts.mfa import mfa_mark_passed

        client.force_login(user)  # type: ignore[arg-type]
        session = client.session
        mfa_mark_passed(session, user)  # as allauth's code step leaves it
        session.save()
        return client

    return _login


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_configure(config: pytest.Config) -> None:
    # Playwright's sync API runs an event loop in the test thread; Django's ORM calls made
    # from test code around it are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# --- Browser tests (Playwright driving Debian's Chromium) -----------------------------


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; CI must install it")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(autouse=True)
def _broadcasts_off_the_browser_loop(request: pytest.FixtureRequest) -> None:
    """Playwright's sync API keeps an event loop running in the test thread, where
    async_to_sync refuses to run; without Redis, a service's broadcast (a persona's password
    save, for one) takes that path. In browser tests, send it from a worker thread."""
    if "browser" not in request.fixturenames:
        return
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import async_to_sync

    def off_loop(fn):
        def call(*args, **kwargs):
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(async_to_sync(fn), *args, **kwargs).result()

        return call

    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr("apps.core.events.async_to_sync", off_loop)


@pytest.fixture
def new_page(browser, request, artifacts_dir):
    """Factory for pages in fresh browser contexts (one per person); screenshots on failure."""
    contexts = []

    def _new(*, phone: bool = False):
        viewport = {"width": 360, "height": 740} if phone else {"width": 1280, "height": 900}
        context = browser.new_context(
            viewport=viewport, locale="en-US", timezone_id="America/Los_Angeles"
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield _new
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for index, context in enumerate(contexts):
            for page_index, page in enumerate(context.pages):
                name = f"{request.node.name}-{index}-{page_index}.png"
                with contextlib.suppress(Exception):  # best effort on the way out
                    page.screenshot(path=str(artifacts_dir / name), full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def totp_now(secret: str) -> str:
    """The current TOTP code for ``secret`` (as an authenticator app would show it)."""
    import time

    from allauth.mfa.totp.internal.auth import hotp_value

    return f"{hotp_value(secret, int(time.time()) // 30):06d}"


def open_menu(page) -> None:
    """On a phone the navigation sits behind the Menu button: open it (no-op when wide)."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()


@pytest.fixture
def browser_login():
    """Sign in through the real login form (and the TOTP step for staff)."""

    def _login(page, base_url: str, email: str, password: str, totp_secret: str | None = None):
        page.goto(f"{base_url}/accounts/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        # Wait for each form's own navigation: a bare wait_for_load_state() could return for
        # the page being left, and the test's next goto() then raced the sign-in POST.
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in", exact=True).click()
        if totp_secret:
            page.get_by_label("Code").fill(totp_now(totp_secret))
            with page.expect_navigation():
                page.get_by_role("button", name="Continue", exact=True).click()
        page.wait_for_load_state()
        return page

    return _login


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last. Playwright's sync API keeps an event loop running in the test
    thread while the session-scoped browser is open, and async (Channels) tests that run after
    it in the same thread would fail with "cannot be called from a running event loop".
    Under pytest-xdist, ``--no-loadscope-reorder`` keeps this order on each worker."""

    def uses_browser(item: pytest.Item) -> bool:
        return item.get_closest_marker("browser") is not None or "browser" in getattr(
            item, "fixturenames", ()
        )

    items.sort(key=uses_browser)  # stable: keeps the order within each part
