"""What apps above enrollment add to its pages, so enrollment knows no app above it:

- the treatment plan page (diagnoses from the record: the plan "carries" them), for staff
  and for the patient's own plan page — ``register_plan_section(..., audience=)``;
- the discharge / continuing-care pages (the discharge form and the summary): referrals —
  ``register_continuing_care_section``.

Registered from an app's ``AppConfig.ready()``. ``render(request, patient)`` returns
``(template_name, context)`` or ``None`` to hide it; the template renders one
``<section class="card">``. The page's view has already decided the viewer may see this
patient; a section checks anything narrower itself and audits its own reads, as chart
sections do (``apps/progress/extensions.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from apps.accounts.models import User

Audience = Literal["staff", "patient"]
SectionRender = Callable[[HttpRequest, User], tuple[str, dict[str, Any]] | None]


@dataclasses.dataclass(frozen=True)
class Section:
    page: str  # "plan" | "continuing_care"
    key: str
    order: int
    render: SectionRender
    audience: Audience


_sections: dict[tuple[str, str, Audience], Section] = {}


def register_plan_section(
    *, key: str, order: int, render: SectionRender, audience: Audience = "staff"
) -> None:
    _sections[("plan", key, audience)] = Section("plan", key, order, render, audience)


def register_continuing_care_section(*, key: str, order: int, render: SectionRender) -> None:
    # Shown to staff on the form and to either on the summary: one rendering for both.
    _sections[("continuing_care", key, "staff")] = Section(
        "continuing_care", key, order, render, "staff"
    )


def _rendered(
    request: HttpRequest, patient: User, *, page: str, audience: Audience
) -> list[SafeString]:
    out = []
    chosen = (s for s in _sections.values() if s.page == page and s.audience == audience)
    for section in sorted(chosen, key=lambda s: s.order):
        result = section.render(request, patient)
        if result is None:
            continue
        template, context = result
        html = render_to_string(template, {"patient": patient, **context}, request=request)
        out.append(mark_safe(html))  # noqa: S308 (our own templates, autoescaped)
    return out


def plan_sections(request: HttpRequest, patient: User, *, audience: Audience) -> list[SafeString]:
    return _rendered(request, patient, page="plan", audience=audience)


def continuing_care_sections(request: HttpRequest, patient: User) -> list[SafeString]:
    return _rendered(request, patient, page="continuing_care", audience="staff")
