"""Turning stored content and answers into what templates show: safe Markdown, per-step view
models, and small server-rendered SVG charts of practice-log ratings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

from apps.homework.answers import is_complete
from apps.homework.models import Assignment, Response
from apps.homework.schema import PracticeLogStep, QuizStep, Step

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "ul", "ol", "li", "h3", "h4", "blockquote", "code",
    "table", "thead", "tbody", "tr", "th", "td", "hr", "a",
}  # fmt: skip


@lru_cache(maxsize=256)
def render_markdown(text: str) -> SafeString:
    """Markdown to HTML, then sanitised: content may never carry raw HTML or scripts."""
    html = markdown.markdown(text, extensions=["tables", "sane_lists"])
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"scope"}},
        url_schemes={"https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above


@dataclass
class ChartSeries:
    field_id: str
    label: str
    points: str  # "x,y x,y" for <polyline>
    dots: list[tuple[float, float, int]]
    css: str
    average: float | None


@dataclass
class Chart:
    title: str
    width: int
    height: int
    series: list[ChartSeries]
    y_ticks: list[tuple[float, int]]
    x_labels: list[tuple[float, str]]
    summary: str
    plot_left: int = 28
    plot_right: int = 0
    plot_top: int = 8
    plot_bottom: int = 0


SERIES_CSS = ["hw-series-a", "hw-series-b", "hw-series-c"]


def log_chart(step: PracticeLogStep, entries: list[dict[str, Any]]) -> Chart | None:
    """A line chart of the step's 0-10 scale series over its entries (in date order)."""
    if step.chart is None or not entries:
        return None
    width, height = 360, 170
    left, right, top, bottom = 28, width - 26, 10, height - 28
    n = len(entries)

    def x(index: int) -> float:
        return left + (right - left) / 2 if n == 1 else left + index * (right - left) / (n - 1)

    def y(value: int) -> float:
        return bottom - value * (bottom - top) / 10

    series = []
    summaries = []
    for position, field_id in enumerate(step.chart.series):
        log_field = step.field(field_id)
        label = log_field.label if log_field else field_id
        dots = [
            (round(x(i), 1), round(y(e[field_id]), 1), e[field_id])
            for i, e in enumerate(entries)
            if isinstance(e.get(field_id), int)
        ]
        values = [d[2] for d in dots]
        average = round(sum(values) / len(values), 1) if values else None
        if average is not None:
            summaries.append(f"{label}: average {average}")
        series.append(
            ChartSeries(
                field_id=field_id,
                label=label,
                points=" ".join(f"{px},{py}" for px, py, _ in dots),
                dots=dots,
                css=SERIES_CSS[position % len(SERIES_CSS)],
                average=average,
            )
        )
    step_labels = max(1, n // 6 + (1 if n % 6 else 0))
    x_labels = [
        (round(x(i), 1), e["date"][5:]) for i, e in enumerate(entries) if i % step_labels == 0
    ]
    return Chart(
        title=step.chart.title,
        width=width,
        height=height,
        series=series,
        y_ticks=[(round(y(v), 1), v) for v in (0, 5, 10)],
        x_labels=x_labels,
        summary=f"{n} entries. " + "; ".join(summaries),
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
    )


@dataclass
class StepView:
    step: Step
    number: int
    value: dict[str, Any]
    complete: bool
    template: str
    body_html: SafeString | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    new_entry_id: str = ""
    chart: Chart | None = None
    quiz_feedback: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.step.kind


def quiz_feedback(step: QuizStep, value: dict[str, Any]) -> list[dict[str, Any]]:
    """The chosen options' own feedback. The option's text is named only when several may be
    chosen (to say which one the feedback is about); a verdict ("Good choice.") only when the
    content has no feedback of its own, which already says yes or no."""
    chosen = set(value.get("choices") or [])
    return [
        {
            "text": o.text if step.multiple else "",
            "feedback": o.feedback,
            "correct": o.correct,
        }
        for o in step.options
        if o.id in chosen
    ]


def step_view(step: Step, number: int, response: Response | None) -> StepView:
    value = dict(response.value) if response is not None else {}
    view = StepView(
        step=step,
        number=number,
        value=value,
        complete=is_complete(step, value) if response is not None else False,
        template=f"homework/steps/{step.kind}.html",
    )
    if step.kind == "reading":
        view.body_html = render_markdown(step.body)
    elif isinstance(step, QuizStep):
        view.quiz_feedback = quiz_feedback(step, value)
    elif isinstance(step, PracticeLogStep):
        view.entries = list(value.get("entries") or [])
        view.new_entry_id = str(uuid.uuid4())
        view.chart = log_chart(step, view.entries)
    return view


def step_views(assignment: Assignment) -> list[StepView]:
    responses = {r.step_id: r for r in assignment.responses.all()}
    return [
        step_view(step, index, responses.get(step.id))
        for index, step in enumerate(assignment.module_version.spec.steps, start=1)
    ]


def progress(views: list[StepView]) -> dict[str, int]:
    done = sum(1 for v in views if v.complete)
    total = len(views)
    return {"done": done, "total": total, "percent": round(100 * done / total) if total else 0}
