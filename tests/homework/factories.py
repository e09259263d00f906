"""Homework test helpers: the shipped modules, groups with members, filled-in answers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone

from apps.homework import services
from apps.homework.answers import DictData
from apps.homework.loader import load_modules
from apps.homework.models import Assignment, Module
from apps.scheduling.models import Group, GroupMembership, Session


def shipped_modules() -> dict[str, Module]:
    load_modules()
    return {m.slug: m for m in Module.objects.select_related("current_version")}


def make_group(program, *, name: str = "Relapse Prevention Group", members=()) -> Group:
    group = Group.objects.create(
        program=program,
        name=name,
        kind="relapse_prevention",
        track="evening",
        rrule="FREQ=WEEKLY;BYDAY=WE",
        start_time=dt.time(18, 0),
        start_date=timezone.localdate() - dt.timedelta(days=30),
    )
    for patient in members:
        GroupMembership.objects.create(
            group=group, patient=patient, from_date=group.start_date, status="active"
        )
    return group


def make_session(
    group: Group, *, days_ago: int = 1, starts_at: dt.datetime | None = None
) -> Session:
    starts = starts_at or timezone.now() - dt.timedelta(days=days_ago)
    return Session.objects.create(
        group=group,
        occurrence_date=starts.astimezone(group.program.time_zone).date(),
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=3),
        topic="Urges and cravings",
    )


def assign(clinician, patient, module: Module, **kwargs: Any) -> Assignment:
    assignment, _created = services.assignment_create(
        clinician=clinician, patient=patient, module=module, **kwargs
    )
    return assignment


def entry(date: dt.date | None = None, **fields: Any) -> DictData:
    data = {
        "entry_id": str(uuid.uuid4()),
        "date": (date or timezone.localdate()).isoformat(),
    }
    data.update({f"f-{k}": v for k, v in fields.items()})
    return DictData(data)


def complete_urge_surfing(assignment: Assignment, patient) -> None:
    """Answer every required step of the urge-surfing module."""
    save = services.response_save
    save(assignment=assignment, user=patient, step_id="waves", data=DictData({"read": "1"}))
    save(assignment=assignment, user=patient, step_id="check", data=DictData({"choice": "passes"}))
    for before, after in ((8, 4), (6, 3)):
        services.log_entry_add(
            assignment=assignment,
            user=patient,
            step_id="surf-log",
            data=entry(craving_before=before, minutes=20, craving_after=after),
        )
    save(
        assignment=assignment,
        user=patient,
        step_id="reflection",
        data=DictData({"text": "The urge peaked quickly and then faded away slowly."}),
    )
