"""Request typing and the two role gates every app's views share."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django_htmx.middleware import HtmxDetails

    from apps.accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """A request behind ``login_required``: ``request.user`` is a ``User``, not anonymous.
    ``htmx`` is set by django-htmx's middleware on every request."""

    user: User
    htmx: HtmxDetails


View = TypeVar("View", bound=Callable[..., HttpResponse])


def is_staff(user: User | AnonymousUser) -> bool:
    """Clinicians and program admins: the one definition of "staff" for views and selectors."""
    return bool(user.is_authenticated and user.is_staff_role)


def _role_required(allowed: Callable[[Any], bool]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # 404, not 403: a page of the other role is not there for this user.
            if not allowed(request.user):
                raise Http404
            return view(request, *args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


patient_required = _role_required(lambda user: user.is_patient)
staff_required = _role_required(is_staff)
