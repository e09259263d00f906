from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse

from apps.core.requestcontext import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return reverse("home")

    def get_client_ip(self, request: HttpRequest) -> str:
        """The address allauth's rate limits count by: the same rule as audit and logs."""
        ip = client_ip(request.META)
        if not ip:
            raise PermissionDenied("Unable to determine the client address.")
        return ip
