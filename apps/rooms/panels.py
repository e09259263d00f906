"""Dashboard panel: the group rooms the user can join right now (hidden when none)."""

from __future__ import annotations

from django.http import HttpRequest

from apps.core.fragments import user_scope
from apps.core.nav import PanelCache, PanelResult
from apps.rooms.selectors import sessions_live_for


def _live_scopes(request: HttpRequest) -> list[str]:
    # A room opening or closing on the clock is bounded by the fragment's minute.
    return [user_scope(request.user), "scheduling.session", "scheduling.group", "rooms.room"]


LIVE_ROOMS_CACHE = PanelCache(scopes=_live_scopes)


def live_rooms(request: HttpRequest) -> PanelResult:
    sessions = sessions_live_for(user=request.user)  # type: ignore[arg-type]
    if not sessions:
        return None
    return "rooms/partials/live_panel.html", {"sessions": sessions}
