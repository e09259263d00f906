from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoomsConfig(AppConfig):
    name = "apps.rooms"
    label = "rooms"
    verbose_name = _("Group rooms")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from django.db.models.signals import post_delete, post_save

        from apps.core import nav
        from apps.rooms import panels
        from apps.rooms.models import RiskPhrase
        from apps.rooms.services import risk_phrases_changed

        for signal in (post_save, post_delete):
            signal.connect(
                lambda **kwargs: risk_phrases_changed(),
                sender=RiskPhrase,
                weak=False,
                dispatch_uid=f"rooms-risk-phrases-{signal is post_save}",
            )

        # Cached for patients only: their dashboard needs it (bench/pages.py).
        nav.register_panel(
            role="patient",
            order=5,
            key="rooms-live",
            render=panels.live_rooms,
            cache=panels.LIVE_ROOMS_CACHE,
        )
        nav.register_panel(role="clinician", order=5, key="rooms-live", render=panels.live_rooms)
