"""Dashboard panel: the group rooms the user can join right now (hidden when none)."""

from __future__ import annotations

from django.http import HttpRequest

from apps.core.nav import PanelResult
from apps.rooms.selectors import sessions_live_for


def live_rooms(request: HttpRequest) -> PanelResult:
    sessions = sessions_live_for(user=request.user)  # type: ignore[arg-type]
    if not sessions:
        return None
    return "rooms/partials/live_panel.html", {"sessions": sessions}
