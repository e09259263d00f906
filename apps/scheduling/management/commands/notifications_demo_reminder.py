"""Put a demo patient's group session N minutes from now, to watch a reminder arrive.

    manage.py notifications_demo_reminder [--email patient1@demo.test] [--minutes 61]

With the dev stack running (daphne, ``celery worker``, ``celery beat``) the planner creates
the 1-hour reminder within a minute, due at start - 60 min, and the dispatcher sends it by
e-mail (printed by the worker with the console backend) and in-app (the bell updates live).
Demo only: it writes a "Reminder demo group" straight into the scheduling tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.programs.models import Program
from apps.scheduling.models import Group, GroupMembership, Session, SessionStatus

DEMO_GROUP = "Reminder demo group"


class Command(BaseCommand):
    help = "Schedule a demo session N minutes from now for one demo patient."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="patient1@demo.test")
        parser.add_argument("--minutes", type=int, default=61)

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        patient = User.objects.filter(email=options["email"], role="patient").first()
        if patient is None:
            raise CommandError("No such demo patient; run manage.py seed_demo first.")
        program = patient.patient_profile.program or Program.objects.first()
        if program is None:
            raise CommandError("No program; run manage.py seed_demo first.")
        now = timezone.now().replace(second=0, microsecond=0)
        starts = now + dt.timedelta(minutes=options["minutes"])
        local = starts.astimezone(program.time_zone)
        group, _created = Group.objects.get_or_create(
            program=program,
            name=DEMO_GROUP,
            defaults={
                "kind": "other",
                "track": "evening",
                "rrule": "FREQ=DAILY",
                "start_time": local.time(),
                "duration_minutes": 60,
                "start_date": local.date() - dt.timedelta(days=1),
                "end_date": local.date(),
            },
        )
        # A one-off: the series ends today, so the session generator adds nothing after it.
        if group.end_date != local.date():
            group.end_date = local.date()
            group.save(update_fields=["end_date", "updated_at"])
        clinician = User.objects.filter(programs=program, role="clinician").first()
        if clinician is not None:
            group.facilitators.add(clinician)
        session, _created = Session.objects.update_or_create(
            group=group,
            occurrence_date=local.date(),
            defaults={
                "starts_at": starts,
                "ends_at": starts + dt.timedelta(hours=1),
                "status": SessionStatus.SCHEDULED,
                "cancel_reason": "",
                "is_modified": True,
            },
        )
        if not GroupMembership.objects.filter(
            group=group, patient=patient, status="active"
        ).exists():
            GroupMembership.objects.create(
                group=group, patient=patient, from_date=local.date() - dt.timedelta(days=1)
            )
        self.stdout.write(
            f"Session {session.pk} starts at {starts:%H:%M} UTC for user {patient.pk}; "
            f"the 1-hour reminder is due at {starts - dt.timedelta(hours=1):%H:%M} UTC."
        )
