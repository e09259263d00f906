"""A database too slow to answer: the statement or lock timeout fired (PostgreSQL SQLSTATE
57014 query_canceled, 55P03 lock_not_available). Pages answer 503 with a plain page, sockets
an error frame; neither is a server fault, and the person can try again."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as django_server_error

from apps.core.logs import sqlstate_of

BUSY_SQLSTATES = frozenset({"57014", "55P03"})
RETRY_AFTER_SECONDS = 30


def is_database_busy(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if sqlstate_of(exc) in BUSY_SQLSTATES:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: a statement or lock timeout is "busy, try again" (503), rendered with
    no database access at all; anything else is Django's own 500."""
    if is_database_busy(sys.exc_info()[1]):
        template = "partials/busy.html" if request.headers.get("HX-Request") else "503.html"
        response = HttpResponse(render_to_string(template), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return django_server_error(request, template_name)
