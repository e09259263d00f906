"""A cursor for the few hand-written statements on every page and chat message, which
PostgreSQL plans once per connection instead of on every call.

Django's cursors bind parameters on the client (psycopg's ``ClientCursor``), so PostgreSQL
parses and plans each statement again on every call: for the room access read that was
0.5–0.8 ms of planning for 0.1 ms of execution, on every chat message and room page
(bench/RESULTS.md). :func:`prepared_cursor` gives a server-binding psycopg cursor, wrapped by
Django like its own (query logging, ``CaptureQueriesContext``, database error wrapping), so
psycopg prepares a statement once it has run ``prepare_threshold`` times on a connection
(settings: ``DB_PREPARED_STATEMENTS``). Only statements run through it are prepared; the ORM's
stay as they are.

With ``DB_PREPARED_STATEMENTS=0`` (e.g. PgBouncer in transaction mode before 1.21, or without
``max_prepared_statements``) psycopg prepares nothing and this is a plain server-binding
cursor. Other databases get Django's own cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Django's debug cursor, logging the statement as written (its parameters beside it):
    Django logs what psycopg says it sent, and for a prepared statement psycopg sends only
    the statement's name — the query log (``connection.queries``,
    ``CaptureQueriesContext``, ``django.db.backends`` debug logging) showed ``None``."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(sql, params):
            return super(CursorDebugWrapper, self).execute(sql, params)


@contextmanager
def prepared_cursor(using: str = DEFAULT_DB_ALIAS) -> Iterator[Any]:
    connection = connections[using]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    # What connection.cursor() does, with psycopg's server-binding cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = psycopg.Cursor(connection.connection)
        tzloader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != tzloader.timezone:
            register_tzloader(connection.timezone, raw)
    connection.validate_thread_sharing()
    # (django-stubs type the argument as Django's wrapper; Django passes the driver's cursor.)
    if connection.queries_logged:
        cursor = _PreparedDebugWrapper(raw, connection)
    else:
        cursor = connection.make_cursor(raw)  # type: ignore[arg-type]
    with cursor:
        yield cursor
