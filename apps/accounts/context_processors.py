from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.accounts.selectors import crisis_info_for_user
from apps.core import fragments


def crisis(request: HttpRequest) -> dict[str, Any]:
    """The crisis line and banner on every patient page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "role", None) != "patient":
        return {"crisis": None, "crisis_banner": None}
    # Both lazy: computed only by a template that shows them (fragments rendered for the
    # cache run this processor too, and must not render the banner).
    return {
        "crisis": SimpleLazyObject(lambda: crisis_info_for_user(user)),
        "crisis_banner": SimpleLazyObject(lambda: _crisis_banner(request, user)),
    }


def _crisis_banner(request: HttpRequest, user: Any) -> str:
    """988 and the program's crisis line and phone, cached per patient until their profile
    or any program changes (a saved row bumps the counters at once)."""
    return fragments.cached(
        request,
        "core:crisis_banner",
        scopes=[fragments.user_scope(user), "programs.program"],
        render=lambda: fragments.render_fragment(
            "core/_crisis_banner.html", {"crisis": crisis_info_for_user(user)}, request
        ),
    )
