from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DisclosuresConfig(AppConfig):
    """The log of disclosures made under a patient's releases of information, and the chart
    sections showing a patient's consents, releases and that log (issue 28). Enrollment owns
    the releases and revocations; this app sits above progress so it can add to the chart."""

    name = "apps.disclosures"
    label = "disclosures"
    verbose_name = _("Disclosures")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.disclosures import appointment_times, sections

        sections.register()
        appointment_times.register()
