"""Move the demo's live group session and 1:1 visit to now (run by every `make run`), so a
newcomer who comes back another day still finds a room to join. Never in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.programs.models import Program
from apps.rooms.models import Room
from apps.scheduling.demo import live_refresh
from apps.video.models import VideoRoom


class Command(BaseCommand):
    help = "Move the demo's live group session and live video visit to now."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo is never touched with DJANGO_ENV=production.")
        program = Program.objects.filter(slug="adult-iop").first()
        if program is None:
            self.stdout.write("demo_live: no demo program (run seed_demo first)")
            return
        with transaction.atomic():
            live, visit = live_refresh(program=program)
            # A room ended on an earlier day opens again for today's session.
            Room.objects.filter(session=live).update(ended_at=None, ended_by=None, locked=False)
            VideoRoom.objects.filter(session=live).delete()
            if visit is not None:
                VideoRoom.objects.filter(appointment=visit, ended_at__isnull=False).delete()
        self.stdout.write(
            f"  live group session: /rooms/{live.pk}/"
            + (f"   live 1:1 visit: /video/visit/{visit.pk}/" if visit else "")
        )
