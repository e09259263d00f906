"""What apps above enrollment add to the treatment plan page (diagnoses, problems from the
record), so enrollment knows no app above it: the plan "carries" them by registry.

Registered from an app's ``AppConfig.ready()``:

    register_plan_section(key="diagnoses", order=10, render=plan_diagnoses, audience="staff")

``render(request, patient)`` returns ``(template_name, context)`` or ``None`` to hide it; the
template renders one ``<section class="card">``. ``audience`` is "staff" (the clinician's
view of the plan) or "patient" (the patient's own plan page). The plan view has already
decided the viewer may see this patient's plan; a section audits its own reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from apps.accounts.models import User

Audience = Literal["staff", "patient"]
PlanSectionRender = Callable[[HttpRequest, User], tuple[str, dict[str, Any]] | None]


@dataclasses.dataclass(frozen=True)
class PlanSection:
    key: str
    order: int
    render: PlanSectionRender
    audience: Audience


_sections: dict[tuple[str, Audience], PlanSection] = {}


def register_plan_section(
    *, key: str, order: int, render: PlanSectionRender, audience: Audience = "staff"
) -> None:
    _sections[(key, audience)] = PlanSection(key, order, render, audience)


def plan_sections(request: HttpRequest, patient: User, *, audience: Audience) -> list[SafeString]:
    out = []
    for section in sorted(
        (s for s in _sections.values() if s.audience == audience), key=lambda s: s.order
    ):
        result = section.render(request, patient)
        if result is None:
            continue
        template, context = result
        html = render_to_string(template, {"patient": patient, **context}, request=request)
        out.append(mark_safe(html))  # noqa: S308 (our own templates, autoescaped)
    return out
