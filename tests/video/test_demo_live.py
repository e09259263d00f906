"""A newcomer who comes back another day still finds the demo's live room and visit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.rooms.models import Room
from apps.rooms.selectors import Phase, room_phase
from apps.scheduling.models import Appointment, Session

pytestmark = pytest.mark.django_db


def test_demo_live_moves_the_live_session_and_visit_to_now(settings):
    settings.PRODUCTION = False
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    live = Session.objects.get(
        group__name__endswith="(live demo)",
        starts_at__lte=timezone.now(),
        ends_at__gt=timezone.now(),
    )
    # A day later: the session is long over and its room was ended.
    Session.objects.filter(pk=live.pk).update(
        starts_at=live.starts_at - dt.timedelta(days=1),
        ends_at=live.ends_at - dt.timedelta(days=1),
    )
    Room.objects.update_or_create(session=live, defaults={"ended_at": timezone.now()})
    call_command("demo_live", stdout=open("/dev/null", "w"))  # noqa: SIM115
    live.refresh_from_db()
    room = Room.objects.get(session=live)
    assert room_phase(session=live, room=room) == Phase.LIVE
    visits = Appointment.objects.filter(patient__email="patient1@demo.test", status="booked")
    assert sum(v.join_is_open(timezone.now()) for v in visits) == 1
    call_command("demo_live", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert sum(v.join_is_open(timezone.now()) for v in visits.all()) == 1  # moved, not added
