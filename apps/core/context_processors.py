from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.core import nav


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    role = getattr(user, "role", None) if user is not None and user.is_authenticated else None
    crisis = None
    if role == "patient":
        from apps.programs.selectors import crisis_info_for_user

        crisis = crisis_info_for_user(user)  # type: ignore[arg-type]
    return {
        "clinic_name": settings.CLINIC_NAME,
        "nav_links": nav.links_for(role),
        "user_role": role,
        "crisis": crisis,
        "idle_timeout_seconds": settings.IDLE_TIMEOUT_SECONDS,
        "idle_warning_seconds": settings.IDLE_WARNING_SECONDS,
    }
