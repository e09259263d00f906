"""Role-aware navigation and dashboard panels, contributed by each app.

An app registers its links and panels in its ``AppConfig.ready()``; ``base.html`` and the
dashboards only render what is registered, so no app edits another app's templates.

    from apps.core import nav
    nav.register_link(roles={"patient"}, label=_("My week"), url_name="scheduling:my_week", order=20)
    nav.register_panel(role="patient", order=10, render=my_week_panel)

A panel is a callable ``(request) -> (template_name, context) | None``; ``None`` hides it.

Caching is opt-in per panel, for a dashboard that needs it (bench/pages.py):
``cache=PanelCache(scopes=fn)`` keeps the rendered panel in the shared cache
(``apps.core.fragments``) until a write bumps one of the version counters ``fn(request)``
names, or at most a minute. Never for safety flags or crisis content, nor for a panel whose
render function writes an audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from apps.core import fragments

PanelResult = tuple[str, dict[str, Any]] | None


@dataclass(frozen=True)
class NavLink:
    label: str | Promise
    url_name: str
    roles: frozenset[str]
    order: int = 50
    # A count next to the label (unread messages), fetched by htmx from this URL name after
    # the page loads, so no page pays a query for it (and query-count pins stay put).
    badge_url_name: str = ""


@dataclass(frozen=True)
class PanelCache:
    """What a cached panel depends on: version-counter names (``fragments.scope``) and any
    other values its HTML varies on (such as the viewer's local date)."""

    scopes: Callable[[HttpRequest], list[str]]
    vary: Callable[[HttpRequest], list[Any]] | None = None


@dataclass(frozen=True)
class Panel:
    role: str
    order: int
    render: Callable[[HttpRequest], PanelResult]
    key: str = field(default="")
    cache: PanelCache | None = None


_links: dict[str, NavLink] = {}
_panels: dict[str, Panel] = {}


def register_link(
    *,
    roles: Iterable[str],
    label: str | Promise,
    url_name: str,
    order: int = 50,
    badge_url_name: str = "",
) -> None:
    _links[url_name] = NavLink(
        label=label,
        url_name=url_name,
        roles=frozenset(roles),
        order=order,
        badge_url_name=badge_url_name,
    )


def register_panel(
    *,
    role: str,
    order: int,
    render: Callable[[HttpRequest], PanelResult],
    key: str,
    cache: PanelCache | None = None,
) -> None:
    _panels[f"{role}:{key}"] = Panel(role=role, order=order, render=render, key=key, cache=cache)


def links_for(role: str | None) -> list[dict[str, str]]:
    if role is None:
        return []
    out = []
    for link in sorted(_links.values(), key=lambda item: item.order):
        if role not in link.roles:
            continue
        try:
            href = reverse(link.url_name)
        except NoReverseMatch:
            continue
        badge = reverse(link.badge_url_name) if link.badge_url_name else ""
        out.append(
            {"label": str(link.label), "href": href, "url_name": link.url_name, "badge": badge}
        )
    return out


def panels_for(role: str, request: HttpRequest) -> list[dict[str, Any]]:
    panels = sorted((p for p in _panels.values() if p.role == role), key=lambda p: p.order)
    cached = [p for p in panels if p.cache is not None]
    htmls = dict(
        zip(
            (p.key for p in cached),
            fragments.cached_many(request, [_fragment(p, request) for p in cached]),
            strict=True,
        )
    )
    rendered: list[dict[str, Any]] = []
    for panel in panels:
        if panel.cache is not None:
            if htmls[panel.key]:
                rendered.append({"html": htmls[panel.key], "key": panel.key})
            continue
        result = panel.render(request)
        if result is None:
            continue
        template, context = result
        rendered.append({"template": template, "context": context, "key": panel.key})
    return rendered


def _fragment(panel: Panel, request: HttpRequest) -> Any:
    spec = panel.cache
    assert spec is not None

    def render() -> str:
        result = panel.render(request)
        if result is None:
            return ""  # hidden, and cached as hidden
        template, context = result
        return fragments.render_fragment(template, {"panel": context}, request)

    return fragments.Fragment(
        name=f"panel:{panel.role}:{panel.key}",
        scopes=spec.scopes(request),
        render=render,
        vary=spec.vary(request) if spec.vary else (),
    )


def register_defaults() -> None:
    everyone = {"patient", "clinician", "admin"}
    register_link(roles=everyone, label=_("Home"), url_name="home", order=0)
    register_link(roles={"patient"}, label=_("Crisis plan"), url_name="crisis", order=90)
    register_link(roles={"admin"}, label=_("Admin"), url_name="admin:index", order=95)
