from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.core import nav


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    role = getattr(user, "role", None) if user is not None and user.is_authenticated else None
    crisis: Any = None
    crisis_banner: Any = None
    if role == "patient":
        from apps.programs.selectors import crisis_info_for_user

        # Both lazy: computed only by a template that shows them (fragments rendered for
        # the cache run this processor too, and must not render the banner).
        crisis = SimpleLazyObject(lambda: crisis_info_for_user(user))  # type: ignore[arg-type]
        crisis_banner = SimpleLazyObject(lambda: _crisis_banner(request, user))
    return {
        "clinic_name": settings.CLINIC_NAME,
        "nav_links": nav.links_for(role),
        "user_role": role,
        "crisis": crisis,
        "crisis_banner": crisis_banner,
        # The per-user socket is refused to a staff session that has not passed MFA.
        "user_socket": role is not None and _socket_allowed(request, user),
        "idle_timeout_seconds": settings.IDLE_TIMEOUT_SECONDS,
        "idle_warning_seconds": settings.IDLE_WARNING_SECONDS,
    }


def _socket_allowed(request: HttpRequest, user: Any) -> bool:
    from apps.accounts.mfa import staff_session_allowed

    session = getattr(request, "session", None)
    return session is not None and staff_session_allowed(user, session)


def _crisis_banner(request: HttpRequest, user: Any) -> str:
    """The banner on every patient page: 988 and their program's crisis line and phone,
    cached per patient until their profile or any program changes (a saved row bumps the
    counters at once)."""
    from apps.core import fragments
    from apps.programs.selectors import crisis_info_for_user

    return fragments.cached(
        request,
        "core:crisis_banner",
        scopes=[fragments.user_scope(user), "programs.program"],
        render=lambda: fragments.render_fragment(
            "core/_crisis_banner.html", {"crisis": crisis_info_for_user(user)}, request
        ),
    )
