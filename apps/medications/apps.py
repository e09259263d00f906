from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MedicationsConfig(AppConfig):
    """Medication list, allergies and adverse reactions, adherence in the daily check-in."""

    name = "apps.medications"
    label = "medications"
    verbose_name = _("Medications")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.core import nav
        from apps.medications import checkin, sections

        nav.register_link(
            roles={"patient"},
            label=_("My medications"),
            url_name="medications:mine",
            order=45,
        )
        sections.register()
        checkin.register()
