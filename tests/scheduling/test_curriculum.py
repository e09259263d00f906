"""Curriculum topics rotate onto sessions: anchored at the group's start, stable when sessions
are generated again, never over a topic edited on one session."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.scheduling import curriculum, services
from apps.scheduling.forms import GroupSeriesForm
from apps.scheduling.models import Group, Session
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db

TOPICS = [
    {"title": "Urges", "module": ""},
    {"title": "Triggers", "module": ""},
    {"title": "Coping plan", "module": ""},
]
EVERY_DAY = tuple(range(7))


def _group(program, clinician, *, days_since_start: int = 10, topics=TOPICS) -> Group:
    group = make_group(
        program,
        [clinician],
        days=EVERY_DAY,
        start_date=timezone.localdate() - dt.timedelta(days=days_since_start),
    )
    Group.objects.filter(pk=group.pk).update(curriculum_topics=topics)
    group.refresh_from_db()
    return group


def _topics(group: Group) -> dict[dt.date, str]:
    return dict(group.sessions.values_list("occurrence_date", "topic"))


def _expected(group: Group, day: dt.date) -> str:
    titles = [t.title for t in curriculum.topics_read(group.curriculum_topics)]
    return titles[(day - group.start_date).days % len(titles)]  # one occurrence a day


def test_rotation_is_anchored_at_the_groups_start_not_at_today(program, clinician):
    group = _group(program, clinician, days_since_start=10)
    services.sessions_generate(group=group)
    topics = _topics(group)
    assert topics
    today = timezone.localdate(timezone=group.program.time_zone)
    # Today is occurrence 10: 10 % 3 == 1, so "Triggers", not the first topic.
    assert topics[today] == "Triggers"
    assert all(topic == _expected(group, day) for day, topic in topics.items())


def test_generating_again_gives_every_occurrence_the_same_topic(program, clinician):
    group = _group(program, clinician)
    services.sessions_generate(group=group)
    before = _topics(group)
    # Lose a few sessions, then generate again and backfill history: same rotation.
    Session.objects.filter(pk__in=list(group.sessions.values_list("pk", flat=True)[:3])).delete()
    services.sessions_generate(group=group, since=group.start_date)
    after = _topics(group)
    assert {d: t for d, t in after.items() if d in before} == before
    assert after[group.start_date] == "Urges"  # occurrence 0
    assert all(topic == _expected(group, day) for day, topic in after.items())


def test_an_individually_edited_topic_is_never_overwritten(program, clinician):
    group = _group(program, clinician)
    sessions = list(group.sessions.filter(starts_at__gt=timezone.now()).order_by("starts_at"))
    edited = sessions[2]
    cleared = sessions[3]
    services.session_update(session=edited, by=clinician, topic="Family visit")
    services.session_update(session=cleared, by=clinician, topic="")
    services.sessions_generate(group=group)
    # A series edit that changes the curriculum: sessions that follow the series take it.
    series = services.GroupSeries(
        name=group.name,
        kind=group.kind,
        track=group.track,
        rrule=group.rrule,
        start_time=group.start_time,
        duration_minutes=group.duration_minutes,
        start_date=group.start_date,
        capacity=group.capacity,
        curriculum_topics=["Sleep", {"title": "Grief", "module": ""}],
    )
    services.group_update_series(group=group, by=clinician, series=series)
    edited.refresh_from_db()
    cleared.refresh_from_db()
    assert edited.topic == "Family visit"
    assert cleared.topic == ""
    group.refresh_from_db()
    followers = group.sessions.filter(starts_at__gt=timezone.now(), is_modified=False)
    assert followers.exists()
    assert all(s.topic == _expected(group, s.occurrence_date) for s in followers)
    assert {s.topic for s in followers} == {"Sleep", "Grief"}


def test_plain_string_topics_still_rotate(program, clinician):
    group = _group(program, clinician, topics=["Alpha", "Beta"])
    services.sessions_generate(group=group)
    assert set(_topics(group).values()) == {"Alpha", "Beta"}


def test_no_curriculum_leaves_topics_blank(program, clinician):
    group = _group(program, clinician, topics=[])
    services.sessions_generate(group=group)
    assert set(_topics(group).values()) == {""}


def test_topics_stored_as_objects_and_bad_shapes_refused(program, clinician):
    group = make_group(program, [clinician], name="Skills")
    series = services.GroupSeries(
        name=group.name,
        kind=group.kind,
        track=group.track,
        rrule=group.rrule,
        start_time=group.start_time,
        duration_minutes=group.duration_minutes,
        start_date=group.start_date,
        curriculum_topics=["Urges"],
    )
    services.group_update_series(group=group, by=clinician, series=series)
    group.refresh_from_db()
    assert group.curriculum_topics == [{"title": "Urges", "module": ""}]
    for bad in ([{"title": ""}], [{"title": "x", "module": "Not A Slug!"}], [{"x": 1}], [3]):
        series.curriculum_topics = bad
        with pytest.raises(services.SchedulingError):
            services.group_update_series(group=group, by=clinician, series=series)


def test_topic_module_is_found_by_title():
    raw = [{"title": "Cravings and urges", "module": "urge-surfing"}, "Sleep"]
    assert curriculum.topic_module(raw, "  cravings AND urges ") == "urge-surfing"
    assert curriculum.topic_module(raw, "Sleep") == ""
    assert curriculum.topic_module(raw, "Something else") == ""
    assert curriculum.topics_to_lines(raw) == "Cravings and urges | urge-surfing\nSleep"


def test_group_form_reads_title_bar_module_lines(program, clinician):
    from apps.programs.models import Program

    base = {
        "program": program.pk,
        "name": "G",
        "kind": "process",
        "track": "evening",
        "days": ["0"],
        "start_time": "18:00",
        "duration_minutes": 90,
        "start_date": timezone.localdate().isoformat(),
        "capacity": 8,
        "admission": "open",
        "facilitators": [clinician.pk],
    }
    programs = Program.objects.filter(pk=program.pk)
    form = GroupSeriesForm({**base, "curriculum_topics": "Sleep\n\nGrief |  \n"}, programs=programs)
    assert form.is_valid(), form.errors
    assert form.topics() == [{"title": "Sleep", "module": ""}, {"title": "Grief", "module": ""}]
    form = GroupSeriesForm({**base, "curriculum_topics": "| urge-surfing"}, programs=programs)
    assert not form.is_valid()
    assert "curriculum_topics" in form.errors
