"""Django admin is for role admin whose session passed MFA, signed in through allauth's login
(rate limits and the code step apply); admin's own login form is never used."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from apps.accounts.mfa import staff_session_allowed, user_has_mfa
from apps.audit.admin_audit import audited_admin_view


def _admin_has_permission(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        user.is_active
        and user.is_authenticated
        and getattr(user, "role", None) == "admin"
        and user.is_staff
        and staff_session_allowed(user, request.session)
        and user_has_mfa(user)
    )


def _admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """Admin's login URL, which never reads credentials: Django's own form would sign in
    with a password alone, past allauth's rate limits and its code step. A visitor is sent
    to allauth's login; a signed-in user who may not use admin is refused."""
    next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect_to_login(next_url, reverse("account_login"))
    if request.method == "GET" and admin.site.has_permission(request):
        return HttpResponseRedirect(next_url)
    raise PermissionDenied(_("This account may not use the administration site."))


def _selection_understood(model_admin: admin.ModelAdmin, request: HttpRequest) -> bool:
    """Every id an action was posted with is a valid key of the model, in the database's
    range (Django would filter with them as they are, and a malformed one raises in the
    ORM: a 500)."""
    field = model_admin.model._meta.pk
    try:
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            field.run_validators(field.to_python(value))
    except ValidationError:
        return False
    return True


def _selections_checked(admin_view: Callable[..., Any]) -> Callable[..., Any]:
    """``AdminSite.admin_view`` whose model views answer an action posted with malformed
    ids with a message and nothing changed, and record reads of patient data
    (apps/audit/admin_audit.py), for every model admin (ours, the defaults and third-party
    ones), after the site's own permission check."""

    def wrap(view: Callable[..., HttpResponse], cacheable: bool = False) -> Callable[..., Any]:
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, admin.ModelAdmin):
            return admin_view(view, cacheable)
        audited = audited_admin_view(model_admin, view)

        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST" and not _selection_understood(model_admin, request):
                messages.error(request, _("The selection was not understood; nothing changed."))
                return HttpResponseRedirect(request.get_full_path())
            return audited(request, *args, **kwargs)

        return admin_view(checked, cacheable)

    return wrap


def configure_admin_site() -> None:
    admin.site.site_header = "Virtual IOP administration"
    admin.site.site_title = "Virtual IOP admin"
    admin.site.has_permission = _admin_has_permission  # type: ignore[method-assign]
    admin.site.login = _admin_login  # type: ignore[method-assign]
    if not getattr(admin.site.admin_view, "selections_checked", False):
        admin.site.admin_view = _selections_checked(admin.site.admin_view)  # type: ignore[method-assign]
        admin.site.admin_view.selections_checked = True  # type: ignore[attr-defined]
