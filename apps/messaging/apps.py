from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "apps.messaging"
    label = "messaging"
    verbose_name = _("Secure messaging")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.core import nav
        from apps.messaging import chart
        from apps.progress.extensions import register_chart_section

        nav.register_link(
            roles={"patient", "clinician", "admin"},
            label=_("Messages"),
            url_name="messaging:inbox",
            order=45,
            badge_url_name="messaging:unread_badge",
        )
        register_chart_section(
            key="messages",
            order=60,
            render=chart.filed_threads_section,
            audience="staff",
            title=_("Messages filed in the chart"),
        )
