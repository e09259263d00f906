from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import format_html

from apps.core import requestcontext
from apps.core.text import (
    INVALID_TEXT_CODE,
    INVALID_TEXT_MESSAGE,
    has_control_chars,
    json_has_control_chars,
)


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


class ControlCharacterMiddleware:
    """Refuse, with a 400 and a clear message, a request whose query string, form fields or
    JSON body hold a control character (``apps.core.text``): PostgreSQL refuses NUL, so it
    would otherwise be a 500 or a partial write, wherever a view forgot to check. Runs as a
    view is about to be called, after the CSRF check (a forged request is still a 403)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if not _request_has_control_chars(request):
            return None
        return _invalid_text_response(request)


def _request_has_control_chars(request: HttpRequest) -> bool:
    if any(
        has_control_chars(key) or any(has_control_chars(v) for v in values)
        for key, values in request.GET.lists()
    ):
        return True
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    content_type = request.content_type or ""
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return any(
            has_control_chars(key) or any(isinstance(v, str) and has_control_chars(v) for v in vs)
            for key, vs in request.POST.lists()
        )
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = json.loads(request.body)
        except ValueError:
            return False  # not JSON: the view answers that itself
        return json_has_control_chars(body)
    return False


def _invalid_text_response(request: HttpRequest) -> HttpResponse:
    wants_json = request.content_type == "application/json" or "application/json" in (
        request.headers.get("Accept") or ""
    )
    if wants_json:
        return JsonResponse(
            {"error": INVALID_TEXT_CODE, "message": str(INVALID_TEXT_MESSAGE)}, status=400
        )
    if request.headers.get("HX-Request"):
        # htmx swaps it where the form shows its state (e.g. homework's "Not saved: …").
        return HttpResponse(
            format_html(
                '<span class="form-error" role="alert" data-state="error">{}</span>',
                INVALID_TEXT_MESSAGE,
            ),
            status=400,
        )
    return render(request, "core/bad_input.html", {"message": INVALID_TEXT_MESSAGE}, status=400)
