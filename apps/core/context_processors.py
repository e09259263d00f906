from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.core import nav
from apps.core.sessions import session_allowed


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    role = getattr(user, "role", None) if user is not None and user.is_authenticated else None
    session = getattr(request, "session", None)
    allowed = role is not None and session is not None and session_allowed(user, session)
    links = nav.links_for(role)
    if not allowed:
        # Badges are fetched after the page; a session the rules refuse (staff setting up
        # MFA) would only be refused them.
        links = [{**link, "badge": ""} for link in links]
    return {
        "clinic_name": settings.CLINIC_NAME,
        # The clinic's own crisis line, for pages without a patient (the sign-in page).
        "clinic_phone": settings.CLINIC_PHONE,
        "nav_links": links,
        "user_role": role,
        # The per-user socket is refused to a session the rules refuse (staff without MFA).
        "user_socket": allowed,
        "idle_timeout_seconds": settings.IDLE_TIMEOUT_SECONDS,
        "idle_warning_seconds": settings.IDLE_WARNING_SECONDS,
    }
