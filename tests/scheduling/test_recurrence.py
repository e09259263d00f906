"""Recurrence: RRULE validation and wall-clock times across daylight-saving changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from apps.scheduling import recurrence, services
from apps.scheduling.models import Session
from tests.scheduling.factories import make_group

LA = ZoneInfo("America/Los_Angeles")


def test_spring_forward_keeps_local_start_time():
    # DST starts in the US on Sunday 8 March 2026: 18:00 PST is 02:00Z, 18:00 PDT is 01:00Z.
    occ = recurrence.occurrences(
        rule="FREQ=WEEKLY;BYDAY=FR,MO",
        series_start=dt.date(2026, 3, 1),
        series_end=None,
        start_time=dt.time(18, 0),
        duration=dt.timedelta(hours=3),
        tz=LA,
        window_start=dt.date(2026, 3, 6),
        window_end=dt.date(2026, 3, 9),
    )
    assert [o.local_date for o in occ] == [dt.date(2026, 3, 6), dt.date(2026, 3, 9)]
    assert occ[0].starts_at == dt.datetime(2026, 3, 7, 2, 0, tzinfo=dt.UTC)
    assert occ[1].starts_at == dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.UTC)
    for o in occ:
        assert o.starts_at.astimezone(LA).time() == dt.time(18, 0)
        assert o.ends_at - o.starts_at == dt.timedelta(hours=3)


def test_fall_back_keeps_local_start_time():
    # DST ends Sunday 1 November 2026.
    occ = recurrence.occurrences(
        rule="FREQ=WEEKLY;BYDAY=FR,MO",
        series_start=dt.date(2026, 10, 1),
        series_end=None,
        start_time=dt.time(9, 30),
        duration=dt.timedelta(minutes=90),
        tz=LA,
        window_start=dt.date(2026, 10, 30),
        window_end=dt.date(2026, 11, 2),
    )
    assert [o.starts_at.hour for o in occ] == [16, 17]  # 09:30 PDT = 16:30Z, PST = 17:30Z
    assert all(o.starts_at.astimezone(LA).time() == dt.time(9, 30) for o in occ)


@pytest.mark.django_db
def test_generated_sessions_cross_dst_at_same_wall_clock(program, clinician):
    now = dt.datetime(2026, 2, 20, 12, 0, tzinfo=dt.UTC)
    group = make_group(program, [clinician], days=(0, 2), start_date=dt.date(2026, 2, 20), now=now)
    sessions = list(Session.objects.filter(group=group).order_by("starts_at"))
    assert len(sessions) == 16  # 8 weeks x 2 days
    offsets = {s.starts_at.astimezone(LA).utcoffset() for s in sessions}
    assert offsets == {dt.timedelta(hours=-8), dt.timedelta(hours=-7)}  # both sides of DST
    assert {s.starts_at.astimezone(LA).time() for s in sessions} == {dt.time(18, 0)}
    assert {s.occurrence_date.weekday() for s in sessions} == {0, 2}
    # Idempotent: a second run (the periodic task) creates nothing.
    assert services.sessions_generate(group=group, now=now) == 0


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "FREQ=WEEKLY",
        "FREQ=WEEKLY;BYDAY=",
        "FREQ=MONTHLY;BYDAY=MO",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9,18",
        "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        "garbage",
    ],
)
def test_bad_rules_are_refused(rule):
    with pytest.raises(recurrence.RecurrenceError):
        recurrence.rrule_validate(rule)


def test_weekly_rule_roundtrip():
    rule = recurrence.rrule_weekly([3, 0, 2, 0])
    assert rule == "FREQ=WEEKLY;BYDAY=MO,WE,TH"
    recurrence.rrule_validate(rule)
    assert recurrence.rrule_weekdays(rule) == [0, 2, 3]
    with pytest.raises(recurrence.RecurrenceError):
        recurrence.rrule_weekly([])


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,TU,TH", "Mondays, Tuesdays and Thursdays"),
        ("FREQ=WEEKLY;BYDAY=TH,MO", "Mondays and Thursdays"),
        ("FREQ=WEEKLY;BYDAY=SA", "Saturdays"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "Weekdays"),
        ("FREQ=DAILY", "Every day"),
        ("nonsense", "nonsense"),
    ],
)
def test_a_rule_is_described_in_words(rule, words):
    from apps.scheduling.recurrence import rrule_describe

    assert rrule_describe(rule) == words
