"""Error reports to Sentry, with nothing in them that could identify a patient.

Off unless ``SENTRY_DSN`` is set (``virtualiop/settings.py`` calls ``sentry_init``). The SDK
is told not to collect personal data (``send_default_pii=False``, no local variables, no
request bodies), and ``scrub_event`` removes, from every event before it leaves the process,
what it could still carry: request bodies, query strings, cookies, client addresses and every
header but a few harmless ones; user fields but the id; secret tokens in URL paths (masked
as ``apps.core.logs.loggable_path`` masks them in access logs); log message arguments,
breadcrumb texts and ``extra`` (task arguments, records' extras); and the text of database
errors, which carries the failing statement's values (``apps.core.logs``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from apps.core.logs import NO_REQUEST_ID, loggable_path
from apps.core.requestcontext import current

# Request headers kept in an event; every other one (Cookie, Authorization, Referer, which
# holds a URL, X-Forwarded-For, which holds an address) is dropped.
HEADER_ALLOWLIST = frozenset(
    {"accept", "content-length", "content-type", "host", "user-agent", "x-request-id"}
)
# Exception modules whose messages carry a statement's values (apps.core.logs).
_DATABASE_ERROR_MODULES = ("django.db", "psycopg", "sqlite3")
WITHHELD = "(withheld: it may hold patient data)"


def scrub_url(url: str) -> str:
    """``url`` without query string or fragment, and with a secret path segment masked."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, loggable_path(parts.path), "", ""))


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if isinstance(request.get("method"), str):
        kept["method"] = request["method"]
    if isinstance(request.get("url"), str):
        kept["url"] = scrub_url(request["url"])
    headers = request.get("headers")
    if isinstance(headers, dict):
        kept["headers"] = {
            name: value
            for name, value in headers.items()
            if isinstance(name, str) and name.lower() in HEADER_ALLOWLIST
        }
    # Dropped: data (the body), query_string, cookies, env (REMOTE_ADDR and the like).
    return kept


def _scrub_exception(value: dict[str, Any]) -> None:
    module = str(value.get("module") or "")
    if module.startswith(_DATABASE_ERROR_MODULES) and value.get("value"):
        value["value"] = WITHHELD
    stacktrace = value.get("stacktrace")
    for frame in (stacktrace or {}).get("frames") or []:
        if isinstance(frame, dict):
            frame.pop("vars", None)


def _scrub_breadcrumbs(breadcrumbs: Any) -> Any:
    """Keep when and what kind of thing happened, not what it said: a log breadcrumb holds
    the raw arguments, an SQL one the statement."""
    values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    if not isinstance(values, list):
        return {"values": []}
    kept = [
        {k: crumb[k] for k in ("timestamp", "type", "category", "level") if k in crumb}
        for crumb in values
        if isinstance(crumb, dict)
    ]
    return {"values": kept} if isinstance(breadcrumbs, dict) else kept


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send``: the event with everything PHI-like removed."""
    if isinstance(event.get("request"), dict):
        event["request"] = _scrub_request(event["request"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for value in (event.get("exception") or {}).get("values") or []:
        if isinstance(value, dict):
            _scrub_exception(value)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in ((thread or {}).get("stacktrace") or {}).get("frames") or []:
            if isinstance(frame, dict):
                frame.pop("vars", None)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        # The template names what happened ("Not Found: %s"); its arguments may be anything.
        event["logentry"] = {"message": logentry.get("message", ""), "params": []}
    if "breadcrumbs" in event:
        event["breadcrumbs"] = _scrub_breadcrumbs(event["breadcrumbs"])
    event.pop("extra", None)
    if isinstance(event.get("transaction"), str) and event["transaction"].startswith("/"):
        event["transaction"] = loggable_path(event["transaction"])
    return event


def before_send(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """The scrubbed event, tagged with the request id its log lines and audit rows carry."""
    event = scrub_event(event, hint)
    ctx = current()
    event.setdefault("tags", {})["request_id"] = ctx.request_id if ctx else NO_REQUEST_ID
    return event


def sentry_init(*, dsn: str, environment: str) -> None:
    # Only with SENTRY_DSN: a slow import (~140 ms) that most runs never need.
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=before_send,  # type: ignore[arg-type]  # Event is a TypedDict of dicts
        # Errors only: transactions would carry their own URLs and spans.
        traces_sample_rate=0,
    )
