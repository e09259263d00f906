"""No database error's text (it carries the statement's values) in any log line."""

from __future__ import annotations

import logging
import sqlite3

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
