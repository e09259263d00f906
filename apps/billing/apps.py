from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    """Billing codes as program settings, billable days, authorizations, superbills and the
    claims file, all read from the signed record (charting) and attendance (scheduling)."""

    name = "apps.billing"
    label = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.billing import panels, reminders

        panels.register()
        reminders.register()
