from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.core import nav


def open_flags_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    from apps.measures.selectors import flags_open_for  # apps.py loads before the models

    flags = list(flags_open_for(user=request.user)[:10])  # type: ignore[arg-type]
    return "measures/partials/flags_panel.html", {"flags": flags}


class MeasuresConfig(AppConfig):
    name = "apps.measures"
    label = "measures"

    def ready(self) -> None:
        from apps.measures import reminders  # it imports models: not before ready()

        reminders.register()  # its reminders and send-time guards (notifications.planning)
        nav.register_link(
            roles={"clinician", "admin"},
            label=_("Safety flags"),
            url_name="measures:flags",
            order=25,
        )
        for role in ("clinician", "admin"):
            nav.register_panel(role=role, order=5, key="safety_flags", render=open_flags_panel)
