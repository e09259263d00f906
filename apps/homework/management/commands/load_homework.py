"""Load the skills modules in apps/homework/content/ (idempotent; refuses malformed files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.homework.loader import ContentError, load_modules


class Command(BaseCommand):
    help = "Validate and load homework modules from YAML files. Safe to run repeatedly."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=None, help="Another content directory.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = load_modules(options["dir"])
        except ContentError as exc:
            raise CommandError(f"Homework content refused, nothing loaded: {exc}") from exc
        self.stdout.write(
            f"homework: {len(report.created_modules)} new module(s), "
            f"{len(report.new_versions)} new version(s), {len(report.unchanged)} unchanged"
        )
