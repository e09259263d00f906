"""Every index on our tables earns its keep: none is covered by another that leads with the
same columns with the same operator classes (each is one more write on every insert: a
chat message, an audit row). A foreign key another index leads with is declared
``db_index=False`` (and dropped by ``apps.core.migration_operations.DropForeignKeyIndex``)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalogue"),
]

COVERED = """
WITH idx AS (
    SELECT c.relname AS tbl, ic.relname AS idx, i.indisunique AS uniq,
           string_to_array(i.indkey::text, ' ') AS cols,
           string_to_array(i.indclass::text, ' ') AS ops
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    WHERE c.relname = ANY(%s) AND i.indpred IS NULL AND i.indexprs IS NULL
)
SELECT a.tbl, a.idx, b.idx
FROM idx a JOIN idx b ON a.tbl = b.tbl AND a.idx <> b.idx
WHERE NOT a.uniq
  AND cardinality(a.cols) <= cardinality(b.cols)
  AND b.cols[1:cardinality(a.cols)] = a.cols
  AND b.ops[1:cardinality(a.ops)] = a.ops
ORDER BY 1, 2
"""


def _our_tables() -> list[str]:
    return [
        model._meta.db_table
        for model in apps.get_models(include_auto_created=False)
        if model.__module__.startswith("apps.")
    ]


def test_no_index_on_our_tables_is_covered_by_another():
    with connection.cursor() as cursor:
        cursor.execute(COVERED, [_our_tables()])
        covered = cursor.fetchall()
    assert covered == []


def test_the_check_finds_a_covered_index():
    """The query above is not vacuous: an index on rooms_message(room_id) is found covered."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX test_covered_room ON rooms_message (room_id)")
        cursor.execute(COVERED, [["rooms_message"]])
        covered = cursor.fetchall()
    assert ("rooms_message", "test_covered_room", "room_message_id") in covered
