"""Django admin is for role admin with MFA, reached through allauth's login (so MFA applies)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest


def _admin_has_permission(request: HttpRequest) -> bool:
    from apps.accounts.mfa import user_has_mfa

    user = request.user
    return bool(
        user.is_active
        and user.is_authenticated
        and getattr(user, "role", None) == "admin"
        and user.is_staff
        and user_has_mfa(user)  # type: ignore[arg-type]
    )


def configure_admin_site() -> None:
    admin.site.site_header = "Virtual IOP administration"
    admin.site.site_title = "Virtual IOP admin"
    admin.site.has_permission = _admin_has_permission  # type: ignore[method-assign]
    # Send admin logins through allauth so rate limits and MFA apply there too.
    admin.site.login = login_required(admin.site.login)  # type: ignore[method-assign]
