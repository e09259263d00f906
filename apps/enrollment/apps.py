from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnrollmentConfig(AppConfig):
    name = "apps.enrollment"
    label = "enrollment"

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.accounts.selectors import register_in_treatment_rule
        from apps.core import nav
        from apps.enrollment import panels
        from apps.enrollment.selectors import in_treatment

        register_in_treatment_rule(in_treatment)

        nav.register_link(
            roles={"patient"},
            label=_("My application"),
            url_name="enrollment:my_application",
            order=10,
        )
        nav.register_link(
            roles={"patient"},
            label=_("Consents and releases"),
            url_name="enrollment:consents",
            order=85,
        )
        nav.register_link(
            roles={"clinician", "admin"},
            label=_("Applications"),
            url_name="enrollment:queue",
            order=20,
        )
        # Below what the patient does today (issue 29, item 16): an applicant sees little
        # else, so it still leads their page; once admitted it is reference.
        nav.register_panel(
            role="patient",
            order=90,
            key="application",
            render=panels.patient_status_panel,
            cache=nav.PanelCache(scopes=panels.status_scopes),
        )
