"""Scheduling test helpers: groups with sessions, built through the services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from apps.scheduling import services
from apps.scheduling.models import Group


def make_group(
    program,
    facilitators: Sequence,
    *,
    name: str = "Evening Process Group",
    days: Sequence[int] = (0, 2, 3),
    start_time: dt.time = dt.time(18, 0),
    duration_minutes: int = 180,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    capacity: int = 12,
    admission: str = "open",
    track: str = "evening",
    kind: str = "process",
    now: dt.datetime | None = None,
) -> Group:
    from apps.scheduling.recurrence import rrule_weekly

    series = services.GroupSeries(
        name=name,
        kind=kind,
        track=track,
        rrule=rrule_weekly(list(days)),
        start_time=start_time,
        duration_minutes=duration_minutes,
        start_date=start_date or dt.date.today() - dt.timedelta(days=21),
        end_date=end_date,
        capacity=capacity,
        admission=admission,
    )
    group = services.group_create(
        program=program, by=None, series=series, facilitators=list(facilitators), now=now
    )
    return group
