"""What apps above progress add to a patient's chart: notes, diagnoses, billing, messages,
medications each contribute a section, so progress knows no app above it.

A section is registered from an app's ``AppConfig.ready()``:

    register_chart_section(key="notes", order=20, render=notes_section, audience="staff")

``render(request, patient)`` returns ``(template_name, context)`` or ``None`` to hide it; the
template renders one ``<section class="card">`` with a heading whose id is ``h-<key>``.
``audience`` is "staff" (the clinician's chart) or "patient" (the patient's own My progress
page, where the viewer *is* the patient). The caller has already decided the viewer may see
this patient; a section checks anything narrower (psychotherapy notes, withheld notes) itself
and audits its own reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe

from apps.accounts.models import User

Audience = Literal["staff", "patient"]
SectionRender = Callable[[HttpRequest, User], tuple[str, dict[str, Any]] | None]


@dataclasses.dataclass(frozen=True)
class ChartSection:
    key: str
    order: int
    render: SectionRender
    audience: Audience
    title: str | Promise = ""  # lazy: translated when the chart renders


_sections: dict[tuple[str, Audience], ChartSection] = {}


def register_chart_section(
    *,
    key: str,
    order: int,
    render: SectionRender,
    audience: Audience = "staff",
    title: str | Promise = "",
) -> None:
    _sections[(key, audience)] = ChartSection(key, order, render, audience, title)


@dataclasses.dataclass(frozen=True)
class RenderedSection:
    key: str
    title: str
    html: SafeString


def chart_sections(
    request: HttpRequest, patient: User, *, audience: Audience
) -> list[RenderedSection]:
    out = []
    for section in sorted(
        (s for s in _sections.values() if s.audience == audience), key=lambda s: s.order
    ):
        result = section.render(request, patient)
        if result is None:
            continue
        template, context = result
        html = render_to_string(template, {"patient": patient, **context}, request=request)
        out.append(RenderedSection(section.key, str(section.title), mark_safe(html)))  # noqa: S308
    return out


# --- outcome metrics ------------------------------------------------------------------------
# Apps above progress add columns to the program outcomes (charting: documentation
# timeliness). ``compute(program_ids, start, end)`` → {program_id: value}; start/end bound the
# period (either may be None), end exclusive.
OutcomeCompute = Callable[[list[int], Any, Any], dict[int, Any]]
_metrics: dict[str, tuple[str | Promise, OutcomeCompute]] = {}


def register_outcome_metric(*, key: str, label: str | Promise, compute: OutcomeCompute) -> None:
    _metrics[key] = (label, compute)


def outcome_metrics(
    program_ids: list[int], *, start: Any = None, end: Any = None
) -> list[tuple[str, dict[int, Any]]]:
    return [(str(label), compute(program_ids, start, end)) for label, compute in _metrics.values()]
