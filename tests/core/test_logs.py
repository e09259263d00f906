"""No database error's text (it carries the statement's values) in any log line."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sqlite3
from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction

from apps.core.logs import PHISafeFormatter

SENTINEL = "zebediah-homework-answer-4471"


def _configured_formatter() -> logging.Formatter:
    """The formatter of the handlers LOGGING installs (settings.py), as production runs."""
    from logging.config import dictConfig

    from django.conf import settings

    root = logging.getLogger()
    kept = root.handlers[:]
    try:
        dictConfig(settings.LOGGING)
        [handler] = [h for h in root.handlers if h not in kept]
    finally:
        root.handlers[:] = kept
    assert isinstance(handler.formatter, PHISafeFormatter)
    return handler.formatter


def _record(exc: BaseException, msg: str = "Internal Server Error: /homework/", args=()):
    return logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, msg, args, (type(exc), exc, exc.__traceback__)
    )


@pytest.mark.django_db
def test_a_real_database_error_is_logged_without_its_values():
    from apps.accounts.models import User

    email = f"{SENTINEL}@example.test"
    User.objects.create_user(email=email, full_name="First")
    try:
        with transaction.atomic():
            User.objects.create_user(email=email, full_name="Second")
    except IntegrityError as exc:
        error = exc
    else:
        pytest.fail("no database error")
    if connection.vendor == "postgresql":
        assert SENTINEL in str(error)  # the raw text would have leaked it
    formatter = _configured_formatter()
    line = formatter.format(_record(error))
    assert SENTINEL not in line
    assert "IntegrityError" in line and "withheld" in line
    # Also when a caller passes the error as an argument of the message.
    assert SENTINEL not in formatter.format(_record(error, "save failed: %s", (error,)))


def test_a_chained_database_error_is_withheld_in_every_link():
    try:
        try:
            raise sqlite3.IntegrityError(f"UNIQUE constraint failed: value {SENTINEL}")
        except sqlite3.IntegrityError as inner:
            raise RuntimeError("could not store the answer") from inner
    except RuntimeError as exc:
        line = _configured_formatter().format(_record(exc))
    assert SENTINEL not in line
    assert "could not store the answer" in line and "sqlite3.IntegrityError" in line


def test_other_errors_keep_their_message():
    try:
        raise ValueError("the template is missing")
    except ValueError as exc:
        line = _configured_formatter().format(_record(exc))
    assert "the template is missing" in line


def test_statement_logging_stays_off_in_production_settings():
    from django.conf import settings

    assert settings.LOGGING["loggers"]["django.db.backends"]["level"] == "WARNING"


@contextlib.contextmanager
def _configured_console() -> Iterator[io.StringIO]:
    """The handler LOGGING installs, writing to a buffer while the block runs."""
    from logging.config import dictConfig

    from django.conf import settings

    root = logging.getLogger()
    kept = root.handlers[:]
    stream = io.StringIO()
    try:
        dictConfig(settings.LOGGING)
        [handler] = [h for h in root.handlers if h not in kept]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        yield stream
    finally:
        root.handlers[:] = kept


@pytest.mark.django_db
def test_a_line_logged_during_a_request_carries_its_request_id(client, patient):
    client.force_login(patient)
    with _configured_console() as stream:
        response = client.post(
            f"/no-such-page/?q={SENTINEL}", {"answer": SENTINEL}, HTTP_COOKIE=f"x={SENTINEL}"
        )
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    [line] = [ln for ln in stream.getvalue().splitlines() if "django.request" in ln]
    # The id is all the line gains: no query string, body, cookie or user.
    assert re.fullmatch(
        rf"\S+ \S+ WARNING django\.request \[{request_id}\] Not Found: /no-such-page/", line
    )
    assert SENTINEL not in stream.getvalue()
    assert patient.email not in stream.getvalue()


def test_a_line_logged_by_a_view_carries_its_request_id(rf):
    """Lines the code writes while the request runs (Django's own 4xx lines come after)."""
    from django.http import HttpResponse

    from apps.core.middleware import RequestContextMiddleware

    def view(request):
        logging.getLogger("apps.homework.views").warning("answer %d saved", 42)
        return HttpResponse()

    with _configured_console() as stream:
        response = RequestContextMiddleware(view)(rf.get(f"/homework/?q={SENTINEL}"))
    line = stream.getvalue().rstrip("\n")
    assert line.endswith(
        f" WARNING apps.homework.views [{response['X-Request-ID']}] answer 42 saved"
    )
    assert SENTINEL not in line


def test_a_line_logged_outside_a_request_says_so():
    with _configured_console() as stream:
        logging.getLogger("apps.notifications.tasks").warning("tick late by %d s", 3)
    assert (
        stream.getvalue()
        .rstrip("\n")
        .endswith(" WARNING apps.notifications.tasks [-] tick late by 3 s")
    )


@pytest.mark.django_db
def test_each_request_logs_its_own_id(client):
    with _configured_console() as stream:
        ids = [client.get(f"/no-such-page-{n}/")["X-Request-ID"] for n in range(2)]
    lines = [ln for ln in stream.getvalue().splitlines() if "django.request" in ln]
    assert ids[0] != ids[1]
    assert [re.search(r"\[(\w+)\]", ln).group(1) for ln in lines] == ids
