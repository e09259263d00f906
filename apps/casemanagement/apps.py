from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CaseManagementConfig(AppConfig):
    name = "apps.casemanagement"
    label = "casemanagement"
    verbose_name = _("Case management")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.casemanagement import panels
        from apps.core import nav
        from apps.enrollment.extensions import (
            register_continuing_care_section,
            register_plan_section,
        )
        from apps.progress.extensions import register_chart_section

        nav.register_link(
            roles={"patient"},
            label=_("Referrals & tasks"),
            url_name="casemanagement:mine",
            order=55,
        )
        nav.register_link(
            roles={"clinician"},
            label=_("Case management"),
            url_name="casemanagement:caseload",
            order=55,
        )
        nav.register_panel(role="patient", order=35, key="case_tasks", render=panels.patient_panel)
        nav.register_panel(
            role="clinician", order=35, key="case_tasks", render=panels.clinician_panel
        )
        nav.register_panel(role="today", order=20, key="case_tasks", render=panels.clinician_panel)
        register_chart_section(
            key="casemanagement",
            order=40,
            render=panels.staff_chart_section,
            audience="staff",
            title=_("Case management"),
        )
        register_chart_section(
            key="casemanagement",
            order=40,
            render=panels.patient_chart_section,
            audience="patient",
            title=_("Referrals and tasks"),
        )
        register_continuing_care_section(
            key="referrals", order=10, render=panels.continuing_care_section
        )
        # Needs and goals for housing, work, school and legal belong on the treatment plan.
        register_plan_section(
            key="casemanagement", order=30, render=panels.staff_chart_section, audience="staff"
        )
        register_plan_section(
            key="casemanagement",
            order=30,
            render=panels.patient_chart_section,
            audience="patient",
        )
