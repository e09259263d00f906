from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DiagnosesConfig(AppConfig):
    """ICD-10-CM diagnoses (from the CMS code set in simple-icd-10-cm) and the level-of-care
    justification; read by billing (claims) and charting (notes)."""

    name = "apps.diagnoses"
    label = "diagnoses"
    verbose_name = _("Diagnoses")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.diagnoses import panels

        panels.register()
