"""What apps above scheduling plug into it, so scheduling imports none of them. Registered
from an app's ``AppConfig.ready()``:

- ``register_membership_activated(key=, hook=)``: called when a patient gets an active seat
  (added directly, or moved up from the waitlist), inside that transaction, so a rollback
  undoes whatever the hook wrote. Homework gives the late joiner the group's open
  assignments. A hook must be idempotent: a patient may leave and rejoin.
- ``register_module_catalogue(provider)``: ``provider()`` returns ``{slug: title}`` of the
  modules a curriculum topic may name; the group form and admin validate against it.
- ``register_session_section(key=, order=, render=)``: a card on the staff session page;
  ``render(request, session)`` returns ``(template, context)`` or None. The view has already
  decided the viewer may see this session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from django.http import HttpRequest

    from apps.accounts.models import User
    from apps.scheduling.models import GroupMembership, Session

MembershipHook = Callable[["GroupMembership", "User | None"], object]
SessionRender = Callable[["HttpRequest", "Session"], "tuple[str, dict[str, Any]] | None"]

_membership_hooks: dict[str, MembershipHook] = {}
_catalogue: list[Callable[[], dict[str, str]]] = []


@dataclasses.dataclass(frozen=True)
class SessionSection:
    key: str
    order: int
    render: SessionRender


_session_sections: dict[str, SessionSection] = {}


def register_membership_activated(*, key: str, hook: MembershipHook) -> None:
    _membership_hooks[key] = hook


def membership_activated(*, membership: GroupMembership, by: User | None) -> None:
    for hook in _membership_hooks.values():
        hook(membership, by)


def register_module_catalogue(provider: Callable[[], dict[str, str]]) -> None:
    _catalogue[:] = [provider]


def module_catalogue() -> dict[str, str] | None:
    """``{slug: title}`` of the modules topics may name, or None when no app provides them
    (then only the slug's form is checked)."""
    return _catalogue[0]() if _catalogue else None


def register_session_section(*, key: str, order: int, render: SessionRender) -> None:
    _session_sections[key] = SessionSection(key, order, render)


def session_sections(request: HttpRequest, session: Session) -> list[SafeString]:
    out = []
    for section in sorted(_session_sections.values(), key=lambda s: s.order):
        result = section.render(request, session)
        if result is None:
            continue
        template, context = result
        html = render_to_string(template, {"session": session, **context}, request=request)
        out.append(mark_safe(html))  # noqa: S308 (our own templates, autoescaped)
    return out
