"""Query-string values read one way: a malformed or out-of-range value falls back to the
page's default (or "none"), never a 500. ``?day=0001-01-01`` gave an OverflowError when a
page added a day to it; a huge id overflowed the database's integer."""

from __future__ import annotations

import datetime as dt
from typing import overload

# Dates further than this from the page's default are not a week anyone plans: the default.
MAX_DATE_DISTANCE = dt.timedelta(days=366 * 10)
MAX_ID = 2**63 - 1  # PostgreSQL bigint, and SQLite's integer


@overload
def date_param(
    raw: str | None,
    *,
    default: dt.date,
    around: dt.date | None = None,
    earliest: dt.date | None = None,
    latest: dt.date | None = None,
) -> dt.date: ...
@overload
def date_param(
    raw: str | None,
    *,
    default: None,
    around: dt.date,
    earliest: dt.date | None = None,
    latest: dt.date | None = None,
) -> dt.date | None: ...
def date_param(
    raw: str | None,
    *,
    default: dt.date | None,
    around: dt.date | None = None,
    earliest: dt.date | None = None,
    latest: dt.date | None = None,
) -> dt.date | None:
    """An ISO date from the query string, or ``default`` when it is missing, malformed,
    outside [earliest, latest], or more than ten years from ``around`` (the default)."""
    if not raw:
        return default
    try:
        day = dt.date.fromisoformat(raw.strip()[:10])
    except ValueError:
        return default
    centre = around or default
    if centre is not None and abs(day - centre) > MAX_DATE_DISTANCE:
        return default
    if (earliest is not None and day < earliest) or (latest is not None and day > latest):
        return default
    return day


def id_param(raw: str | None) -> int | None:
    """A row id from the query string, or None when it is not one (only digits, in range)."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None
