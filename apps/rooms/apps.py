from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoomsConfig(AppConfig):
    name = "apps.rooms"
    label = "rooms"
    verbose_name = _("Group rooms")

    def ready(self) -> None:
        from apps.core import nav
        from apps.rooms import panels

        for role in ("patient", "clinician"):
            nav.register_panel(
                role=role,
                order=5,
                key="rooms-live",
                render=panels.live_rooms,
                cache=panels.LIVE_ROOMS_CACHE,
            )
