"""What several scheduling pages share."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format

from apps.core.params import query_date
from apps.scheduling import selectors, services


def week_param(request: HttpRequest, today: dt.date) -> dt.date:
    span = dt.timedelta(days=366 * 2)
    day = query_date(request, "week", default=today, earliest=today - span, latest=today + span)
    return selectors.week_start_for(day)


def error_text(exc: services.SchedulingError) -> str:
    return " ".join(exc.messages)


def slot_choices(slots: list[dt.datetime]) -> list[tuple[str, str]]:
    tz = timezone.get_current_timezone()
    return [(s.isoformat(), date_format(timezone.localtime(s, tz), "D j M, H:i")) for s in slots]
