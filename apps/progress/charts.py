"""Server-side chart geometry for accessible SVG charts (no JavaScript, no CDN).

Each builder returns a ``Chart``; ``templates/progress/partials/chart.html`` draws it as an
SVG with a title and description, and the page puts a text summary and a data table beside
it for screen readers. Missing days break a line (a gap), they are never drawn as zeros.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.translation import gettext as _

WIDTH = 440
HEIGHT = 230
LEFT, RIGHT, TOP, BOTTOM = 30, 8, 10, 26


@dataclass
class BandRect:
    y: float
    height: float
    label: str
    css: str
    label_y: float


@dataclass
class Dot:
    x: float
    y: float
    title: str


@dataclass
class Series:
    name: str
    css: str
    paths: list[str] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    css: str


@dataclass
class Chart:
    key: str
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    bands: list[BandRect] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str, str]] = field(default_factory=list)
    hline: tuple[float, str, float] | None = None
    empty: bool = False

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_top(self) -> int:
        return TOP

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def empty_y(self) -> float:
        return self.plot_top + self.plot_height / 2

    @property
    def plot_width(self) -> int:
        return self.plot_right - self.plot_left

    @property
    def plot_height(self) -> int:
        return self.plot_bottom - self.plot_top


def _y(chart: Chart, value: float, y_max: float) -> float:
    return round(chart.plot_bottom - (value / y_max) * chart.plot_height, 1) if y_max else 0.0


# Dots keep this far from the plot's left and right edges so they are never cut in half.
X_INSET = 8


def _x_for(chart: Chart, day: dt.date, start: dt.date, end: dt.date) -> float:
    span = max((end - start).days, 1)
    width = chart.plot_width - 2 * X_INSET
    return round(chart.plot_left + X_INSET + ((day - start).days / span) * width, 1)


def _short(day: dt.date) -> str:
    return date_format(day, "M j")


def _x_ticks(
    chart: Chart, start: dt.date, end: dt.date, count: int = 4
) -> list[tuple[float, str, str]]:
    span = max((end - start).days, 1)
    count = min(count, span + 1)
    ticks = []
    seen = set()
    for index in range(count):
        day = start + dt.timedelta(days=round(span * index / max(count - 1, 1)))
        if day in seen:
            continue
        seen.add(day)
        ticks.append((_x_for(chart, day, start, end), _short(day), "middle"))
    if ticks:
        # Keep the outermost labels inside the drawing.
        ticks[0] = (ticks[0][0], ticks[0][1], "start")
        if len(ticks) > 1 and ticks[-1][0] > chart.plot_right - 25:
            ticks[-1] = (ticks[-1][0], ticks[-1][1], "end")
    return ticks


def score_chart(
    *,
    key: str,
    title: str,
    description: str,
    points: list[tuple[dt.date, int, str]],
    bands: list[tuple[int, int, str]],
    y_max: int,
    start: dt.date,
    end: dt.date,
) -> Chart:
    """A total score over time with the instrument's severity bands shaded behind it.

    ``points``: (local date, total, tooltip); ``bands``: (min, max, label), lowest first."""
    chart = Chart(key=key, title=title, description=description)
    if end <= start:
        end = start + dt.timedelta(days=1)
    for index, (low, high, label) in enumerate(bands):
        top = _y(chart, min(high + 1, y_max), y_max)
        bottom = _y(chart, low, y_max)
        chart.bands.append(
            BandRect(
                top, round(bottom - top, 1), label, f"band-{index}", round((top + bottom) / 2, 1)
            )
        )
    step = 5 if y_max > 12 else 2
    chart.y_ticks = [(_y(chart, v, y_max), str(v)) for v in range(0, y_max + 1, step)]
    chart.x_ticks = _x_ticks(chart, start, end)
    series = Series(name=title, css="line-score")
    coords = []
    for day, value, tip in points:
        x, y = _x_for(chart, day, start, end), _y(chart, value, y_max)
        coords.append(f"{x},{y}")
        series.dots.append(Dot(x, y, tip))
    if coords:
        series.paths.append("M" + " L".join(coords))
    chart.series.append(series)
    chart.empty = not points
    return chart


def daily_chart(
    *,
    key: str,
    title: str,
    description: str,
    start: dt.date,
    end: dt.date,
    lines: list[tuple[str, str, dict[dt.date, float]]],
    y_max: float,
) -> Chart:
    """Daily values (check-ins) from ``start`` to ``end``; a day without a value breaks the
    line, so missed check-ins show as gaps. ``lines``: (name, css class, {day: value})."""
    chart = Chart(key=key, title=title, description=description)
    chart.y_ticks = [(_y(chart, v, y_max), f"{v:g}") for v in _ticks(y_max)]
    chart.x_ticks = _x_ticks(chart, start, end)
    any_value = False
    for name, css, values in lines:
        series = Series(name=name, css=css)
        run: list[str] = []
        day = start
        while day <= end:
            value = values.get(day)
            if value is None:
                if run:
                    series.paths.append("M" + " L".join(run))
                run = []
            else:
                any_value = True
                x, y = _x_for(chart, day, start, end), _y(chart, float(value), y_max)
                run.append(f"{x},{y}")
                series.dots.append(Dot(x, y, f"{name} {_short(day)}: {value:g}"))
            day += dt.timedelta(days=1)
        if run:
            series.paths.append("M" + " L".join(run))
        chart.series.append(series)
    chart.empty = not any_value
    return chart


def _ticks(y_max: float) -> list[float]:
    step = 2.0 if y_max <= 12 else 5.0
    out, v = [], 0.0
    while v <= y_max:
        out.append(v)
        v += step
    return out


def hours_chart(
    *,
    key: str,
    title: str,
    description: str,
    weeks: list[tuple[dt.date, float]],
    floor: float,
) -> Chart:
    """Hours attended per week as bars, with the program's weekly floor as a line."""
    chart = Chart(key=key, title=title, description=description)
    top = max([floor * 1.25, *[h for _w, h in weeks], 1.0])
    y_max = float(int(top) + 1)
    chart.y_ticks = [(_y(chart, v, y_max), f"{v:g}") for v in _ticks(y_max)]
    if weeks:
        slot = chart.plot_width / len(weeks)
        for index, (week, hours) in enumerate(weeks):
            x = chart.plot_left + index * slot + slot * 0.15
            y = _y(chart, hours, y_max)
            css = "bar-ok" if hours >= floor else "bar-low"
            chart.bars.append(
                Bar(
                    round(x, 1),
                    y,
                    round(slot * 0.7, 1),
                    round(chart.plot_bottom - y, 1),
                    _("Week of %(day)s: %(hours)s h")
                    % {"day": _short(week), "hours": f"{hours:g}"},
                    css,
                )
            )
            chart.x_ticks.append((round(x + slot * 0.35, 1), _short(week), "middle"))
    floor_y = _y(chart, floor, y_max)
    chart.hline = (floor_y, _("Floor %(hours)s h") % {"hours": f"{floor:g}"}, round(floor_y - 4, 1))
    chart.empty = not any(h for _w, h in weeks)
    return chart


def as_float(value: Decimal | float | int | None) -> float | None:
    return None if value is None else float(value)
