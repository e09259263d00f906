from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.accounts.selectors import crisis_info_for_user


def crisis(request: HttpRequest) -> dict[str, Any]:
    """The crisis line and banner on every patient page, read on every page (never cached:
    a changed clinic phone shows on the next page)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "role", None) != "patient":
        return {"crisis": None}
    # Lazy: read only by a template that shows it (base.html), not by partials.
    return {"crisis": SimpleLazyObject(lambda: crisis_info_for_user(user))}
