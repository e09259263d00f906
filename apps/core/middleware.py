from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core import requestcontext


class RequestContextMiddleware:
    """Give every request an id (echoed as X-Request-ID) and remember the client address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ctx = requestcontext.RequestContext(
            request_id=requestcontext.new_request_id(),
            ip=requestcontext.client_ip(request.META),
        )
        request.request_id = ctx.request_id  # type: ignore[attr-defined]
        token = requestcontext.set_current(ctx)
        try:
            response = self.get_response(request)
        finally:
            requestcontext.reset(token)
        response["X-Request-ID"] = ctx.request_id
        return response
