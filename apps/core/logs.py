"""Log formatting that never writes a database error's message, and tags each line with
the request it belongs to.

A database error's text carries the values of the failing statement ("DETAIL: Key
(answer)=(…) already exists", a homework answer, a name): it is PHI. Every handler formats
with ``PHISafeFormatter``, which prints a database error as its class and SQLSTATE only, in
tracebacks (and their chained causes) and in a message's arguments alike.

``RequestIdFilter`` gives every record the current request's or socket's id
(``apps.core.requestcontext``; ``-`` outside one): the id the response's X-Request-ID and the
audit trail carry, so an operator can join them without any PHI in the line.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import traceback
from types import TracebackType
from typing import Any

from django.db import Error as DjangoDatabaseError

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _database_error_types() -> tuple[type[BaseException], ...]:
    import psycopg  # slow (~150 ms); a process on SQLite never needs it otherwise

    return (sqlite3.Error, DjangoDatabaseError, psycopg.Error)


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE a database error carries (psycopg's error or its diagnostics), if any."""
    return getattr(exc, "sqlstate", None) or getattr(getattr(exc, "diag", None), "sqlstate", None)


def is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, _database_error_types())


def database_error_text(exc: BaseException) -> str:
    """``module.Class [SQLSTATE xxxxx]``: what an operator needs, without the values."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    state = sqlstate_of(cause)
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    suffix = f" [SQLSTATE {state}]" if state else ""
    return f"{kind}{suffix} (message withheld: it may hold patient data)"


def _exception_lines(exc: BaseException, seen: set[int]) -> list[str]:
    seen.add(id(exc))
    lines: list[str] = []
    if exc.__cause__ is not None and id(exc.__cause__) not in seen:
        lines += _exception_lines(exc.__cause__, seen)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif (
        exc.__context__ is not None
        and not exc.__suppress_context__
        and id(exc.__context__) not in seen
    ):
        lines += _exception_lines(exc.__context__, seen)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if exc.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_tb(exc.__traceback__)
    if is_database_error(exc):
        lines.append(database_error_text(exc) + "\n")
    else:
        lines += traceback.format_exception_only(type(exc), exc)
    return lines


NO_REQUEST_ID = "-"


def request_id_of(record: logging.LogRecord) -> str:
    """The id of the request or socket ``record`` was logged for, or ``-`` outside one (a
    Celery task, startup). Django logs a 4xx/5xx ("Not Found: /x/") after every middleware
    has returned, when the context is gone, but passes the request along: its id is read
    from there (``RequestContextMiddleware`` sets ``request.request_id``)."""
    from apps.core import requestcontext  # reads Django settings: imported when first logged

    request_id = getattr(getattr(record, "request", None), "request_id", None)
    if isinstance(request_id, str) and request_id:
        return request_id
    ctx = requestcontext.current()
    return ctx.request_id if ctx is not None else NO_REQUEST_ID


class RequestIdFilter(logging.Filter):
    """Set ``record.request_id`` for formats that print ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_of(record)
        return True


class PHISafeFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        exc = ei[1] if ei else None
        if exc is None:
            return super().formatException(ei)
        return "".join(_exception_lines(exc, set())).rstrip("\n")

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.args, tuple) and any(
            isinstance(a, BaseException) and is_database_error(a) for a in record.args
        ):
            record.args = tuple(
                database_error_text(a)
                if isinstance(a, BaseException) and is_database_error(a)
                else a
                for a in record.args
            )
        if isinstance(record.msg, BaseException) and is_database_error(record.msg):
            record.msg = database_error_text(record.msg)
        if not hasattr(record, "request_id"):
            # A handler configured without RequestIdFilter: the format must not fail.
            record.request_id = request_id_of(record)
        return super().format(record)


# --- Access logs: paths only, with secrets in them masked ----------------------------------
# Paths that carry a secret in a segment: password-reset and e-mail confirmation keys
# (allauth), calendar-feed and unsubscribe tokens. nginx's map (deploy/nginx-*.conf) mirrors
# this list; tests/core/test_access_logs.py holds both to it.
SECRET_PATHS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"^/accounts/password/reset/key/[0-9A-Za-z]+-[^/]+/?"),
        "/accounts/password/reset/key/***/",
    ),
    (re.compile(r"^/accounts/confirm-email/[^/]+/?"), "/accounts/confirm-email/***/"),
    (re.compile(r"^/schedule/feed/[^/]+\.ics"), "/schedule/feed/***.ics"),
    (re.compile(r"^/notifications/unsubscribe/[^/]+/?"), "/notifications/unsubscribe/***/"),
    # A guest's one-time link; /video/guest/join/ and its siblings are not secrets.
    (re.compile(r"^/video/guest/(?!join/|state/|leave/)[^/]+/?"), "/video/guest/***/"),
]


def loggable_path(path: str) -> str:
    """``path`` for an access log: no query string, and secret segments masked."""
    path = path.split("?", 1)[0]
    for pattern, masked in SECRET_PATHS:
        if pattern.match(path):
            return masked
    return path
