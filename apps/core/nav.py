"""Role-aware navigation and dashboard panels, contributed by each app.

An app registers its links and panels in its ``AppConfig.ready()``; ``base.html`` and the
dashboards only render what is registered, so no app edits another app's templates.

    from apps.core import nav
    nav.register_link(roles={"patient"}, label=_("My week"), url_name="scheduling:my_week", order=20)
    nav.register_panel(role="patient", order=10, render=my_week_panel)

A panel is a callable ``(request) -> (template_name, context) | None``; ``None`` hides it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PanelResult = tuple[str, dict[str, Any]] | None


@dataclass(frozen=True)
class NavLink:
    label: str | Promise
    url_name: str
    roles: frozenset[str]
    order: int = 50


@dataclass(frozen=True)
class Panel:
    role: str
    order: int
    render: Callable[[HttpRequest], PanelResult]
    key: str = field(default="")


_links: dict[str, NavLink] = {}
_panels: dict[str, Panel] = {}


def register_link(
    *, roles: Iterable[str], label: str | Promise, url_name: str, order: int = 50
) -> None:
    _links[url_name] = NavLink(label=label, url_name=url_name, roles=frozenset(roles), order=order)


def register_panel(
    *, role: str, order: int, render: Callable[[HttpRequest], PanelResult], key: str
) -> None:
    _panels[f"{role}:{key}"] = Panel(role=role, order=order, render=render, key=key)


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
        out.append({"label": str(link.label), "href": href, "url_name": link.url_name})
    return out


def panels_for(role: str, request: HttpRequest) -> list[dict[str, Any]]:
    rendered = []
    for panel in sorted((p for p in _panels.values() if p.role == role), key=lambda p: p.order):
        result = panel.render(request)
        if result is None:
            continue
        template, context = result
        rendered.append({"template": template, "context": context, "key": panel.key})
    return rendered


def register_defaults() -> None:
    everyone = {"patient", "clinician", "admin"}
    register_link(roles=everyone, label=_("Home"), url_name="home", order=0)
    register_link(roles={"patient"}, label=_("Crisis plan"), url_name="crisis", order=90)
    register_link(roles={"admin"}, label=_("Admin"), url_name="admin:index", order=95)
