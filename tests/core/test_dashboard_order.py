"""The patient's dashboard leads with what matters today (issue 29, item 16): the live room or
next session, today's check-in, homework due; the application card comes after them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.core import nav
from apps.enrollment.models import Status
from tests.enrollment.factories import application_in
from tests.homework.factories import assign, make_group, make_session, shipped_modules

pytestmark = pytest.mark.django_db

TODAY_FIRST = [
    "rooms/partials/live_panel.html",
    "scheduling/partials/panel_week.html",
    "progress/partials/checkin_panel.html",
    "homework/panels/patient.html",
    "enrollment/partials/status_panel.html",
]


def test_patient_panels_are_registered_in_todays_order():
    keys = [
        p.key for p in sorted(nav._panels.values(), key=lambda p: p.order) if p.role == "patient"
    ]
    wanted = ["rooms-live", "week", "checkin", "homework", "application"]
    assert [k for k in keys if k in wanted] == wanted


def test_admitted_patient_sees_live_session_checkin_homework_then_application(
    client, login, patient, clinician, program
):
    application_in(patient, program, status=Status.ADMITTED)
    group = make_group(program, members=[patient])
    make_session(group, starts_at=timezone.now() - dt.timedelta(minutes=5))
    assign(clinician, patient, shipped_modules()["urge-surfing"])
    login(client, patient)
    response = client.get("/")
    names = [t.name for t in response.templates if t.name in TODAY_FIRST]
    firsts = sorted(set(names), key=names.index)
    assert firsts == TODAY_FIRST
