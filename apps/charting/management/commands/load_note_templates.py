"""Load the note templates (apps/charting/note_templates/*.yaml); safe to run again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.charting.loader import ContentError, load_note_templates


class Command(BaseCommand):
    help = "Load note templates from apps/charting/note_templates (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created = load_note_templates()
        except ContentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Note templates: {len(created)} new" + (f" ({', '.join(created)})" if created else "")
        )
