"""Load the demo data: every local app's ``demo.seed(stdout)``, in INSTALLED_APPS order.

Idempotent. Refuses to run with DJANGO_ENV=production.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = "Create demo users, a program and sample data for every feature (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo data is never loaded with DJANGO_ENV=production.")
        for config in apps.get_app_configs():
            module_name = f"{config.name}.demo"
            if not config.name.startswith("apps.") or find_spec(module_name) is None:
                continue
            with transaction.atomic():
                import_module(module_name).seed(self.stdout)
        # core knows no app: the logins come from the accounts app's demo module, by name.
        people = import_module("apps.accounts.demo")
        password, totp_secret = people.DEMO_PASSWORD, people.DEMO_TOTP_SECRET

        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready. Sign in with any of these (password "
                f"'{password}'):\n"
                "  admin@demo.test, clinician1@demo.test, clinician2@demo.test  (staff: TOTP)\n"
                "  patient1@demo.test ... patient12@demo.test\n"
                f"  Staff TOTP secret: {totp_secret}  (oathtool --totp -b {totp_secret})"
            )
        )
