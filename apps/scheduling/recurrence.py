"""RFC 5545 recurrence for groups, via python-dateutil (not hand-rolled).

The rule is expanded in *naive local wall-clock time* and each occurrence is then placed in
the program's zone: that is what keeps an 18:00 group at 18:00 across daylight-saving
changes (expanding in UTC would shift it by an hour twice a year).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

ALLOWED_FREQ = {"WEEKLY", "DAILY"}
# Parts that would put several occurrences on one day or fight the group's own dates.
FORBIDDEN_PARTS = {"DTSTART", "BYHOUR", "BYMINUTE", "BYSECOND", "COUNT", "UNTIL"}
WEEKDAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


class RecurrenceError(ValueError):
    """A recurrence rule that is malformed or not allowed for a group."""


@dataclass(frozen=True)
class Occurrence:
    local_date: dt.date
    starts_at: dt.datetime  # aware, UTC
    ends_at: dt.datetime  # aware, UTC


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in text.strip().removeprefix("RRULE:").split(";"):
        if not chunk:
            continue
        key, sep, value = chunk.partition("=")
        if not sep or not value:
            raise RecurrenceError(_("The recurrence rule is malformed."))
        parts[key.strip().upper()] = value.strip().upper()
    return parts


def rrule_validate(text: str) -> None:
    """Raise RecurrenceError unless ``text`` is a weekly/daily rule with at least one day."""
    if not text or not text.strip():
        raise RecurrenceError(_("Choose at least one day of the week."))
    parts = _parts(text)
    if parts.get("FREQ") not in ALLOWED_FREQ:
        raise RecurrenceError(_("The recurrence must be weekly or daily."))
    forbidden = FORBIDDEN_PARTS & parts.keys()
    if forbidden:
        raise RecurrenceError(
            _("The recurrence rule may not set %s.") % ", ".join(sorted(forbidden))
        )
    if parts["FREQ"] == "WEEKLY":
        days = [d for d in parts.get("BYDAY", "").split(",") if d]
        if not days:
            raise RecurrenceError(_("Choose at least one day of the week."))
        if any(day not in WEEKDAY_CODES for day in days):
            raise RecurrenceError(_("The recurrence rule names an unknown day."))
    try:
        rrulestr(text.strip().removeprefix("RRULE:"), dtstart=dt.datetime(2000, 1, 3))  # noqa: DTZ001
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(_("The recurrence rule is malformed.")) from exc


def rrule_weekly(days: list[int] | list[str]) -> str:
    """The rule text for "every week on these days" (0 = Monday)."""
    codes = []
    for day in days:
        index = int(day)
        if not 0 <= index <= 6:
            raise RecurrenceError(_("The recurrence rule names an unknown day."))
        codes.append(WEEKDAY_CODES[index])
    if not codes:
        raise RecurrenceError(_("Choose at least one day of the week."))
    ordered = sorted(set(codes), key=WEEKDAY_CODES.index)
    return f"FREQ=WEEKLY;BYDAY={','.join(ordered)}"


def rrule_weekdays(text: str) -> list[int]:
    """The days of the week (0 = Monday) a weekly rule names; every day for a daily rule."""
    parts = _parts(text)
    if parts.get("FREQ") == "DAILY" and "BYDAY" not in parts:
        return list(range(7))
    return [WEEKDAY_CODES.index(d) for d in parts.get("BYDAY", "").split(",") if d in WEEKDAY_CODES]


# Plural weekday names for "Mondays and Thursdays" (Monday first).
WEEKDAY_PLURALS = [
    _lazy("Mondays"),
    _lazy("Tuesdays"),
    _lazy("Wednesdays"),
    _lazy("Thursdays"),
    _lazy("Fridays"),
    _lazy("Saturdays"),
    _lazy("Sundays"),
]


def rrule_describe(text: str) -> str:
    """The rule in words for people: "Mondays, Tuesdays and Thursdays", "Every day",
    "Weekdays". A rule that cannot be read is shown as it is."""
    try:
        days = sorted(set(rrule_weekdays(text)))
    except RecurrenceError:
        return text
    if days == list(range(7)):
        return str(_("Every day"))
    if days == list(range(5)):
        return str(_("Weekdays"))
    if not days:
        return text
    names = [str(WEEKDAY_PLURALS[d]) for d in days]
    if len(names) == 1:
        return names[0]
    return _("%(first)s and %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}


def occurrences(
    *,
    rule: str,
    series_start: dt.date,
    series_end: dt.date | None,
    start_time: dt.time,
    duration: dt.timedelta,
    tz: ZoneInfo,
    window_start: dt.date,
    window_end: dt.date,
) -> list[Occurrence]:
    """Occurrences whose local date is in [window_start, window_end] (and in the series)."""
    first = max(series_start, window_start)
    last = min(series_end, window_end) if series_end else window_end
    if last < first:
        return []
    dtstart = dt.datetime.combine(series_start, start_time)  # naive local wall-clock
    recurrence: rrule = rrulestr(rule.strip().removeprefix("RRULE:"), dtstart=dtstart)  # type: ignore[assignment]
    lo = dt.datetime.combine(first, dt.time.min)
    hi = dt.datetime.combine(last, dt.time.max)
    result = []
    for naive in recurrence.between(lo, hi, inc=True):
        # fold=0: in the autumn's repeated hour the first (daylight) instant; a time in the
        # spring gap lands an hour later in UTC terms, as a wall clock would show it.
        local = naive.replace(tzinfo=tz)
        starts_at = local.astimezone(dt.UTC)
        result.append(
            Occurrence(local_date=naive.date(), starts_at=starts_at, ends_at=starts_at + duration)
        )
    return result
