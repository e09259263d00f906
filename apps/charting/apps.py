from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChartingConfig(AppConfig):
    """Clinical documentation: notes, group notes, signing, co-signing, addenda, open notes."""

    name = "apps.charting"
    label = "charting"
    verbose_name = _("Clinical record")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.charting import panels

        panels.register()
