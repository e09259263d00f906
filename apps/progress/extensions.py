"""What apps above progress add to a patient's chart: notes, diagnoses, billing, messages,
medications each contribute a section, so progress knows no app above it.

A section is registered from an app's ``AppConfig.ready()``:

    register_chart_section(key="notes", order=20, render=notes_section, audience="staff")

``render(request, patient)`` returns ``(template_name, context)`` or ``None`` to hide it; the
template renders one ``<section class="card">`` with a heading whose id is ``h-<key>``.
``audience`` is "staff" (the clinician's chart) or "patient" (the patient's own My progress
page, where the viewer *is* the patient). The caller has already decided the viewer may see
this patient; a section checks anything narrower (psychotherapy notes, withheld notes) itself
and audits its own reads.

Apps above may also add a question to the daily check-in (medications asks about adherence):

    register_checkin_question(CheckInQuestion(key="medications_taken", order=10, ...))

``asks(patient)`` decides whether this patient is asked today; the check-in validates the answer
against ``choices`` (required when asked) and, inside its own transaction, hands it to
``save(patient=, checkin=, answer=)``, so the answer is stored by the app that owns it and a
check-in that fails validation stores nothing. ``answer_for(patient, day)`` gives the stored
answer back when the patient edits that day's check-in."""

from __future__ import annotations

import dataclasses
import datetime as dt
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


# --- extra check-in questions -------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CheckInQuestion:
    key: str
    order: int
    label: Any
    choices: tuple[tuple[str, Any], ...]
    asks: Callable[[User], bool]
    save: Callable[..., None]
    answer_for: Callable[[User, dt.date], str | None] = lambda patient, day: None


_questions: dict[str, CheckInQuestion] = {}

# Names the check-in form already uses: a question may not shadow one.
RESERVED_KEYS = frozenset(
    {
        "day",
        "mood",
        "anxiety",
        "sleep_hours",
        "sleep_quality",
        "craving",
        "used_since_last",
        "used_what",
        "skills_used",
        "note",
    }
)


def register_checkin_question(question: CheckInQuestion) -> None:
    if question.key in RESERVED_KEYS or not question.key.isidentifier():
        raise ValueError(f"check-in question key not allowed: {question.key!r}")
    _questions[question.key] = question


def checkin_questions_for(patient: User) -> list[CheckInQuestion]:
    """The extra questions this patient is asked, in order."""
    return [q for q in sorted(_questions.values(), key=lambda q: q.order) if q.asks(patient)]
