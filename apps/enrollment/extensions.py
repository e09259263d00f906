"""What apps above enrollment add to the discharge / continuing-care plan pages (the
discharge form and the discharge summary), so enrollment knows no app above it.

A section is registered from an app's ``AppConfig.ready()``:

    register_continuing_care_section(key="referrals", order=10, render=referrals_section)

``render(request, patient)`` returns ``(template_name, context)`` or ``None`` to hide it. The
viewer may be staff or, on the summary, the patient themself; the caller has decided they
may see this discharge, and a section checks anything narrower itself and audits its own
reads, as chart sections do (``apps/progress/extensions.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from apps.accounts.models import User

SectionRender = Callable[[HttpRequest, User], tuple[str, dict[str, Any]] | None]


@dataclasses.dataclass(frozen=True)
class ContinuingCareSection:
    key: str
    order: int
    render: SectionRender


_sections: dict[str, ContinuingCareSection] = {}


def register_continuing_care_section(*, key: str, order: int, render: SectionRender) -> None:
    _sections[key] = ContinuingCareSection(key, order, render)


def continuing_care_sections(request: HttpRequest, patient: User) -> list[SafeString]:
    out = []
    for section in sorted(_sections.values(), key=lambda s: s.order):
        result = section.render(request, patient)
        if result is None:
            continue
        template, context = result
        html = render_to_string(template, {"patient": patient, **context}, request=request)
        out.append(mark_safe(html))  # noqa: S308
    return out
