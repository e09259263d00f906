"""Query-string parameters (dates, weeks, ids, page numbers) read one way for every view.

A bookmarked or hand-edited address should still open the page: a value that is not a
date or number, or lies outside the range the page can show (``0001-01-01`` overflowed
into a 500), falls back to the page's default and says so in a warning message, rather
than answering 400. Views that answer JSON to scripts keep a 400 of their own.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.translation import gettext as _

# Far beyond any schedule, check-in or report, and far from date.min/max (no overflow
# when a view adds a week or a time zone to it).
DATE_SPAN = dt.timedelta(days=366 * 10)
MAX_ID = 2**63 - 1  # PostgreSQL bigint


def query_date(
    request: HttpRequest,
    name: str,
    *,
    default: dt.date,
    earliest: dt.date | None = None,
    latest: dt.date | None = None,
    warn: bool = True,
) -> dt.date:
    """The ISO date in ``?name=``, or ``default`` when absent; when malformed or outside
    ``earliest``..``latest`` (by default ten years either side of ``default``), ``default``
    with a warning message."""
    if not request.GET.get(name):
        return default
    day = query_date_or_none(
        request,
        name,
        earliest=earliest if earliest is not None else default - DATE_SPAN,
        latest=latest if latest is not None else default + DATE_SPAN,
    )
    if day is not None:
        return day
    if warn:
        messages.warning(
            request,
            _("That date can't be shown here, so this page shows %(day)s instead.")
            % {"day": date_format(default, "DATE_FORMAT")},
        )
    return default


def query_date_or_none(
    request: HttpRequest, name: str, *, earliest: dt.date, latest: dt.date
) -> dt.date | None:
    """The ISO date in ``?name=`` if it is one within ``earliest``..``latest``, else None
    (for an optional filter, where a bad value means no filter)."""
    raw = request.GET.get(name, "")
    if not raw or len(raw) > 32:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        return None
    return day if earliest <= day <= latest else None


def query_int(
    request: HttpRequest,
    name: str,
    *,
    default: int | None = None,
    minimum: int = 0,
    maximum: int = MAX_ID,
) -> int | None:
    """The whole number in ``?name=`` within ``minimum``..``maximum``, else ``default``
    (ids and page numbers: a wrong one just shows the unfiltered or first page)."""
    return _whole_number(request.GET.get(name, ""), default, minimum, maximum)


def form_int(
    request: HttpRequest,
    name: str,
    *,
    default: int | None = None,
    minimum: int = 0,
    maximum: int = MAX_ID,
) -> int | None:
    """The same for a posted field (ids sent by scripts; the caller answers a missing one)."""
    return _whole_number(request.POST.get(name, ""), default, minimum, maximum)


def _whole_number(raw: str, default: int | None, minimum: int, maximum: int) -> int | None:
    raw = raw.strip()
    if not raw or len(raw) > 20 or not raw.lstrip("-").isdigit():
        return default
    value = int(raw)
    return value if minimum <= value <= maximum else default
