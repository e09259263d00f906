"""Billing fixtures: a daily evening group with past sessions, and a helper that records a
member's attendance and documents the session through charting's real services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.charting import services as charting
from apps.charting.loader import load_note_templates
from apps.scheduling.models import Attendance, AttendanceSource, Session
from apps.scheduling.services import sessions_generate
from tests.factories import PASSWORD
from tests.scheduling.factories import make_group

SHARED = {"topic": "Urge surfing", "interventions": "DBT skills.", "process": "Cohesive."}
PRIVATE = "Private progress text that must never leave the chart"


@pytest.fixture
def templates(db):
    load_note_templates()


@pytest.fixture
def group(program, clinician, templates):
    group = make_group(program, [clinician], days=(0, 1, 2, 3, 4, 5, 6), duration_minutes=180)
    sessions_generate(group=group, since=timezone.now().date() - dt.timedelta(days=12))
    return group


@pytest.fixture
def past_sessions(group):
    """Held sessions, newest first (index 0 ended at least three hours ago)."""
    cutoff = timezone.now() - dt.timedelta(hours=3)
    return list(Session.objects.filter(group=group, ends_at__lt=cutoff).order_by("-starts_at"))


def local_day(session: Session) -> dt.date:
    return session.starts_at.astimezone(session.group.program.time_zone).date()


def attend(session: Session, patient, minutes: int = 180, status: str = "present") -> Attendance:
    return Attendance.objects.create(
        session=session,
        patient=patient,
        status=status,
        minutes=minutes,
        source=AttendanceSource.CONFIRMED,
        location="home",
    )


def document(session: Session, author, *, sign: bool = True):
    note = charting.group_note_start(session=session, by=author)
    members = {
        part.patient_id: {"participation": "Active", "progress": PRIVATE, "risk": "none"}
        for part in note.member_notes.all()
    }
    charting.group_note_save_draft(group_note=note, by=author, shared=SHARED, members=members)
    if sign:
        note = charting.group_note_sign(
            group_note=note, by=author, typed_name=author.full_name, secret=PASSWORD
        )
    return note


def held(session: Session, patient, author, *, minutes: int = 180, sign: bool = True):
    attend(session, patient, minutes)
    return document(session, author, sign=sign)
