"""Rendered HTML fragments cached per viewer, invalidated by version counters.

Used only where a page needs it to stay within 2x a one-query view (bench/pages.py): the
patient dashboard's panels, My week and a closed room's transcript. Never for safety data
(flags, the caseload, the crisis banner, risk alerts): those are read on every page.

A fragment is cached under its name, the viewer, language, time zone and any ``vary``
values, with the value of every version counter it depends on; it is served only while they
all still hold that value. A write to a row of ``TRACKED_APPS`` bumps, after commit:

- ``<app.model>:<pk>`` for the row and every row it points at, for users, rooms and
  sessions (``ROW_SCOPED``): a check-in bumps ``accounts.user:<patient id>``;
- ``<app.model>`` for its table and ``app:<label>`` for its app, for shared rows.

Writes that send no signals (``queryset.update()``, ``bulk_create``) and the passing of time
(a join button opening) are bounded by the time to live, ``MAX_TTL`` seconds. Only on with
a cache every process shares (``settings.FRAGMENT_CACHE``, on with Redis). Keep
``audit_record`` outside the cached part, so a hit is audited like a miss. A fragment with
``{% csrf_token %}`` is stored with a placeholder replaced by the request's own token.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.safestring import SafeString, mark_safe

from apps.core.cache import degraded as cache_degraded
from apps.core.cache import on_recovery

MAX_TTL = 60
# Counters expire too (one per written row would otherwise pile up in Redis for ever); one
# that expired comes back with a fresh random value, so it only costs a re-render.
VERSION_TTL = 3600
_VERSION_PREFIX = "fragver:"
_KEY_PREFIX = "frag:"
# The apps whose rows the cached fragments show; writes elsewhere bump nothing. A cached
# fragment must not read another app's rows (it would not be invalidated).
TRACKED_APPS = frozenset(
    {
        "accounts",
        "programs",
        "measures",
        "enrollment",
        "scheduling",
        "rooms",
        "homework",
        "progress",
    }
)
# Written on every socket connect: shown by no fragment.
EXCLUDED_MODELS = frozenset({"rooms.connection"})
# Tables whose new rows change no cached fragment, though edits may: a chat message is posted
# only while its room is live, and a room's transcript is cached only once it has closed
# (rooms.views); a message removed afterwards (in admin) is an edit, and still bumps.
QUIET_INSERTS = frozenset({"rooms.message"})
# The tables whose single rows a fragment may depend on (``scope(model, pk)``); other tables
# have table- and app-wide counters only, so the cache does not hold a counter per chat
# message or audit row.
ROW_SCOPED = frozenset({"accounts.user", "rooms.room", "scheduling.session"})


def csrf_placeholder() -> str:
    """Stands for the CSRF token in cached HTML; derived from SECRET_KEY so that no text a
    user typed (a chat message) can contain it."""
    global _csrf_placeholder
    if _csrf_placeholder is None:
        _csrf_placeholder = "csrf-" + salted_hmac("fragments", "csrf").hexdigest()[:24]
    return _csrf_placeholder


_csrf_placeholder: str | None = None


def enabled() -> bool:
    """On with a cache every process shares, and while it answers: while Redis is down the
    cache is this process's memory (``apps.core.cache``), which other processes' writes
    cannot invalidate."""
    return bool(settings.FRAGMENT_CACHE) and not cache_degraded()


# Every fragment also depends on this counter, bumped when a process finds Redis back after
# an outage: the writes made meanwhile could not bump the counters they change.
EPOCH_SCOPE = "epoch"


def _new_epoch() -> None:
    if settings.FRAGMENT_CACHE:
        cache.set(_VERSION_PREFIX + EPOCH_SCOPE, uuid.uuid4().hex, timeout=VERSION_TTL)


on_recovery(_new_epoch)


def scope(model: type[models.Model] | str, pk: Any = None) -> str:
    """The version-counter name for a table, or one row of it (``ROW_SCOPED`` tables only:
    no write would ever bump a row counter of another table)."""
    label = model if isinstance(model, str) else model._meta.label_lower
    if pk is None:
        return label
    if label not in ROW_SCOPED:
        raise ValueError(f"{label} rows have no version counter; add it to ROW_SCOPED")
    return f"{label}:{pk}"


def user_scope(user: Any) -> str:
    return scope("accounts.user", user.pk)


def _versions(scopes: Iterable[str], found: dict[str, Any] | None = None) -> list[str]:
    """The current value of each counter (``found``: what a combined read already got)."""
    keys = [_VERSION_PREFIX + s for s in scopes]
    if found is None:
        found = cache.get_many(keys)
    missing = [k for k in keys if k not in found]
    if missing:
        # A fresh random value, never a reused one: a counter that was evicted must not come
        # back with a value an old fragment was stored under.
        for key in missing:
            cache.add(key, uuid.uuid4().hex, timeout=VERSION_TTL)
        found = {**found, **cache.get_many(missing)}
    return [str(found.get(k, "")) for k in keys]


def _fragment_key(name: str, parts: Iterable[Any]) -> str:
    """The cache key of fragment ``name`` for these viewer and ``vary`` values: the values
    hashed, so nothing a user typed (a name searched for) is written into a key."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return f"{_KEY_PREFIX}{name}|{digest}"


def bump(scopes: Iterable[str]) -> None:
    """Invalidate every fragment that depends on any of ``scopes`` (after commit)."""
    keys = {_VERSION_PREFIX + s: uuid.uuid4().hex for s in scopes}
    if keys and enabled():
        transaction.on_commit(lambda: cache.set_many(keys, timeout=VERSION_TTL), robust=True)


def render_fragment(template: str, context: dict[str, Any], request: HttpRequest) -> str:
    """Render a template to a string for caching (CSRF token as a placeholder)."""
    return render_to_string(template, {**context, "csrf_token": csrf_placeholder()}, request)


@dataclass(frozen=True)
class Fragment:
    """One cacheable fragment: its name, the counters and values it depends on, and how to
    render it (HTML safe to show) on a miss."""

    name: str
    scopes: Iterable[str]
    render: Callable[[], str]
    vary: Iterable[Any] = ()
    ttl: int = MAX_TTL


def cached_many(request: HttpRequest, fragments: list[Fragment]) -> list[SafeString]:
    """Each fragment for this viewer: from the cache when every counter it depends on is
    unchanged, else rendered and stored. One cache read for the lot."""
    if enabled() and fragments:
        base = [
            str(getattr(request.user, "pk", None)),
            translation.get_language() or "",
            timezone.get_current_timezone_name(),
        ]
        scope_lists = [[*f.scopes, EPOCH_SCOPE] for f in fragments]
        union = sorted({s for scopes in scope_lists for s in scopes})
        keys = [_fragment_key(f.name, [*base, *f.vary]) for f in fragments]
        # One round trip: the stored fragments (each with the counter values it was rendered
        # under) and the counters' current values.
        found = cache.get_many(keys + [_VERSION_PREFIX + s for s in union])
        versions = dict(zip(union, _versions(union, found), strict=True))
        htmls = []
        for f, key, scopes in zip(fragments, keys, scope_lists, strict=True):
            current = tuple(versions[s] for s in scopes)
            stored = found.get(key)
            if stored is not None and stored[0] == current:
                html = stored[1]
            else:
                html = f.render()
                cache.set(key, (current, html), min(f.ttl, MAX_TTL))
            htmls.append(html)
    else:
        htmls = [f.render() for f in fragments]
    token = None
    placeholder = csrf_placeholder()
    out = []
    for html in htmls:
        if placeholder in html:
            token = token or get_token(request)
            html = html.replace(placeholder, token)
        out.append(mark_safe(html))  # noqa: S308 - rendered by the template engine or format_html
    return out


def cached(
    request: HttpRequest,
    name: str,
    *,
    scopes: Iterable[str],
    render: Callable[[], str],
    vary: Iterable[Any] = (),
    ttl: int = MAX_TTL,
) -> SafeString:
    """The fragment ``name`` for this viewer (see ``cached_many``)."""
    return cached_many(request, [Fragment(name, scopes, render, vary, ttl)])[0]


# --- invalidation ---------------------------------------------------------------------------
_fk_cache: dict[type[models.Model], list[tuple[str, str]]] = {}


def _foreign_keys(model: type[models.Model]) -> list[tuple[str, str]]:
    """(attname, target label) for every concrete foreign key / one-to-one of ``model``."""
    fks = _fk_cache.get(model)
    if fks is None:
        fks = [
            (f.attname, f.related_model._meta.label_lower)  # type: ignore[union-attr]
            for f in model._meta.concrete_fields
            if f.is_relation and (f.many_to_one or f.one_to_one)
        ]
        _fk_cache[model] = fks
    return fks


def tracked(model: type[models.Model]) -> bool:
    meta = model._meta
    return meta.app_label in TRACKED_APPS and meta.label_lower not in EXCLUDED_MODELS


def scopes_for_instance(instance: models.Model) -> list[str]:
    model = type(instance)
    label = model._meta.label_lower
    out = [f"app:{model._meta.app_label}", label]
    if label in ROW_SCOPED:
        out.append(f"{label}:{instance.pk}")
    for attname, target in _foreign_keys(model):
        value = getattr(instance, attname, None)
        if value is not None and target in ROW_SCOPED:
            out.append(f"{target}:{value}")
    return out


def on_save_or_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if kwargs.get("raw") or not enabled():
        return
    if kwargs.get("created") and sender._meta.label_lower in QUIET_INSERTS:
        return
    bump(scopes_for_instance(instance))
