"""The hand-written statements on every page and chat message are prepared once per
connection on PostgreSQL, and answer exactly as before (apps/core/db.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.db import prepared_cursor
from apps.notifications.selectors import bell_state
from apps.rooms import selectors
from apps.rooms.models import Participant, Room
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@needs_postgresql
def test_the_access_read_is_prepared_after_five_runs_and_answers_the_same(
    program, clinician, patient
):
    session = make_session(program, [clinician], [patient])
    room = Room.objects.create(session=session, pinned_text="Be kind")
    Participant.objects.create(room=room, user=patient, muted_until=timezone.now())
    assert connection.connection.prepare_threshold == 5  # settings: DB_PREPARED_STATEMENTS

    with CaptureQueriesContext(connection) as queries:
        answers = [
            selectors.participant_access(user=patient, session_id=session.pk) for _ in range(7)
        ]

    assert len(queries) == 7  # still seen by Django's query log, one statement a call
    # ...with its text, also once prepared (psycopg then sends only the statement's name)
    assert all("FROM rooms_participant p" in (q["sql"] or "") for q in queries.captured_queries)
    assert any("FROM rooms_participant p" in sql for sql in _prepared())
    first, last = answers[0], answers[-1]  # planned each time, then from the prepared plan
    assert [f.value_from_object(first[0]) for f in Participant._meta.concrete_fields] == [
        f.value_from_object(last[0]) for f in Participant._meta.concrete_fields
    ]
    assert last[0].room.pinned_text == "Be kind"
    assert last[0].room.session.starts_at == session.starts_at
    assert isinstance(last[0].muted_until, dt.datetime)
    assert last[0].muted_until.utcoffset() == dt.timedelta(0)  # aware, in UTC as Django's
    assert (last[1].is_member, last[1].is_facilitator) == (
        first[1].is_member,
        first[1].is_facilitator,
    )


@needs_postgresql
def test_nothing_is_prepared_when_turned_off(patient):
    connection.connection.prepare_threshold = None  # what DB_PREPARED_STATEMENTS=0 sets
    try:
        for _ in range(7):
            assert bell_state(user=patient) == (0, 0)
        assert not any("notifications_notification" in sql for sql in _prepared())
    finally:
        connection.connection.prepare_threshold = 5


@needs_postgresql
def test_the_bell_is_prepared(patient):
    for _ in range(6):
        bell_state(user=patient)
    assert any("notifications_notification" in sql for sql in _prepared())


@needs_postgresql
def test_errors_come_as_djangos_database_errors():
    with pytest.raises(DataError), prepared_cursor() as cursor:
        cursor.execute("SELECT 1 / %s", [0])


def test_a_prepared_cursor_reads_like_djangos():
    with prepared_cursor() as cursor:
        cursor.execute("SELECT %s, %s", [7, "seven"])
        assert tuple(cursor.fetchone()) == (7, "seven")
