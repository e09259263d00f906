"""Builds what the progress pages show (charts, text summaries, tables) from selectors.

Shared by the patient's "My progress", the clinician's patient chart and the exported summary,
so all three say the same thing. Callers have already decided access."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.homework.models import Assignment
from apps.measures.models import MeasureContext, MeasureResponse, SafetyFlag
from apps.measures.registry import instrument_get
from apps.measures.scoring import Change, change_summary
from apps.progress import charts, selectors
from apps.scheduling.models import Attendance

if TYPE_CHECKING:
    from apps.accounts.models import User

CHECKIN_DAYS = 42


def _local_date(when: dt.datetime, patient: User) -> dt.date:
    return when.astimezone(selectors.patient_zone(patient)).date()


def change_sentence(short_name: str, change: Change | None, *, own: bool) -> str:
    """ "Your PHQ-9 went from 16 to 9 since admission" (``own``) or the clinician's version."""
    if change is None:
        return ""
    values = {"name": short_name, "start": change.baseline, "end": change.current}
    if change.delta == 0:
        text = (
            _("Your %(name)s is %(end)s, the same as at admission.")
            if own
            else _("%(name)s is %(end)s, the same as at admission.")
        )
    else:
        text = (
            _("Your %(name)s went from %(start)s to %(end)s since admission.")
            if own
            else _("%(name)s went from %(start)s to %(end)s since admission.")
        )
    text = text % values
    if change.remission:
        text += " " + _("That is below 5, the usual mark of remission.")
    elif change.response:
        text += " " + _(
            "That is a drop of half or more, the usual mark of a response to treatment."
        )
    elif change.worsened:
        text += " " + _("That is a rise of 5 points or more.")
    return text


def measure_blocks(
    *, patient: User, own: bool, today: dt.date, episode: selectors.Episode
) -> list[dict[str, Any]]:
    program = selectors.patient_program(patient)
    codes = selectors.CHART_INSTRUMENTS + (
        selectors.SUD_INSTRUMENTS if program and program.is_substance_use else ()
    )
    all_series = selectors.measure_series_many(patient=patient, codes=codes, episode=episode)
    blocks = []
    for code in codes:
        definition = instrument_get(code)
        points = all_series.get(code, [])
        if definition is None or (not points and code not in selectors.CHART_INSTRUMENTS):
            continue
        bands = (
            [(b.min, b.max, str(b.label)) for b in definition.bands]
            if definition.band_method == "sum" and definition.bands
            else []
        )
        y_max = definition.max_total or (max(b[1] for b in bands) if bands else 10)
        days = [_local_date(p.taken_at, patient) for p in points]
        start = min([*days, *([episode.admitted_on] if episode.admitted_on else []), today])
        rows = [
            {
                "day": day,
                "total": p.total,
                "band": p.band_label,
                "context": MeasureContext(p.context).label
                if p.context in MeasureContext.values
                else p.context,
            }
            for day, p in zip(days, points, strict=True)
        ]
        change = (
            change_summary(code, points[0].total, points[-1].total) if len(points) >= 2 else None
        )
        sentence = change_sentence(definition.short_name, change, own=own)
        if not points:
            summary = _("No %(name)s scores yet.") % {"name": definition.short_name}
        elif change is None:
            summary = _(
                "%(name)s: %(total)s (%(band)s) on %(day)s. A second score will show the change."
            ) % {
                "name": definition.short_name,
                "total": points[0].total,
                "band": points[0].band_label,
                "day": date_format(days[0], "M j"),
            }
        else:
            summary = sentence + " " + _("Latest: %(band)s.") % {"band": points[-1].band_label}
        chart = charts.score_chart(
            key=code,
            title=_("%(name)s scores over time") % {"name": definition.short_name},
            description=summary,
            points=[
                (day, p.total, f"{date_format(day, 'M j')}: {p.total} ({p.band_label})")
                for day, p in zip(days, points, strict=True)
            ],
            bands=bands,
            y_max=y_max,
            start=start,
            end=today,
        )
        blocks.append(
            {
                "code": code,
                "instrument": definition,
                "chart": chart,
                "summary": summary,
                "change": change,
                "rows": rows,
                "latest": points[-1] if points else None,
                "baseline": points[0] if points else None,
            }
        )
    return blocks


def checkin_block(
    *,
    patient: User,
    today: dt.date,
    admitted_on: dt.date | None = None,
    days: int = CHECKIN_DAYS,
    own: bool = True,
) -> dict[str, Any]:
    """The last six weeks of check-ins, or the time since admission when that is shorter
    (at least two weeks), so a new patient's chart is not mostly empty."""
    if admitted_on is not None and admitted_on <= today:
        days = max(14, min(days, (today - admitted_on).days + 1))
    start = today - dt.timedelta(days=days - 1)
    checkins = selectors.checkins_between(patient=patient, start=start, end=today)
    by_day = {c.day: c for c in checkins}
    program = selectors.patient_program(patient)
    substance_use = bool(program and program.is_substance_use)
    lines: list[tuple[str, str, dict[dt.date, float]]] = [
        (_("Mood"), "line-mood", {c.day: float(c.mood) for c in checkins}),
        (_("Anxiety"), "line-anxiety", {c.day: float(c.anxiety) for c in checkins}),
    ]
    if substance_use:
        lines.append(
            (
                _("Craving"),
                "line-craving",
                {c.day: float(c.craving) for c in checkins if c.craving is not None},
            )
        )
    first = [c for c in checkins if c.day < start + dt.timedelta(days=14)]
    last = [c for c in checkins if c.day > today - dt.timedelta(days=14)]
    first_avg, last_avg = selectors.checkin_averages(first), selectors.checkin_averages(last)
    summary = (
        _("You checked in on %(done)s of the last %(days)s days.")
        if own
        else _("Checked in on %(done)s of the last %(days)s days.")
    ) % {"done": len(checkins), "days": days}
    # Compare the first and last fortnight only when they do not overlap.
    if (
        days >= 28
        and first
        and last
        and first_avg["mood"] is not None
        and last_avg["mood"] is not None
    ):
        summary += " " + _(
            "Average mood went from %(a)s in the first two weeks to %(b)s in the last two; "
            "average anxiety from %(c)s to %(d)s."
        ) % {
            "a": first_avg["mood"],
            "b": last_avg["mood"],
            "c": first_avg["anxiety"],
            "d": last_avg["anxiety"],
        }
    mood_chart = charts.daily_chart(
        key="checkins",
        title=_("Check-ins: mood and anxiety (0 to 10)"),
        description=summary + " " + _("Days without a check-in are gaps in the lines."),
        start=start,
        end=today,
        lines=lines,
        y_max=10,
    )
    sleep_values = {c.day: float(c.sleep_hours) for c in checkins}
    sleep_avg = selectors.checkin_averages(checkins)["sleep_hours"]
    sleep_summary = (
        _("Average sleep: %(hours)s hours a night.") % {"hours": sleep_avg}
        if sleep_avg is not None
        else _("No sleep recorded yet.")
    )
    sleep_chart = charts.daily_chart(
        key="sleep",
        title=_("Hours slept"),
        description=sleep_summary,
        start=start,
        end=today,
        lines=[(_("Hours slept"), "line-sleep", sleep_values)],
        y_max=max(12.0, max(sleep_values.values(), default=0.0)),
    )
    rows = []
    day = today
    while day >= start:
        rows.append({"day": day, "checkin": by_day.get(day)})
        day -= dt.timedelta(days=1)
    return {
        "chart": mood_chart,
        "sleep_chart": sleep_chart,
        "summary": summary,
        "sleep_summary": sleep_summary,
        "rows": rows,
        "count": len(checkins),
        "days": days,
        "substance_use": substance_use,
        "today": by_day.get(today),
    }


def hours_block(*, patient: User, episode: selectors.Episode) -> dict[str, Any] | None:
    program = selectors.patient_program(patient)
    if program is None:
        return None
    weeks = 8
    if episode.admitted_on:
        weeks = max(1, min(8, (selectors.local_today(patient) - episode.admitted_on).days // 7 + 1))
    data = selectors.weeks_of_hours(patient=patient, program=program, weeks=weeks)
    floor = float(program.weekly_hour_floor)
    this_week = data[-1][1] if data else None
    summary = (
        _("This week: %(hours)s of %(floor)s hours attended.")
        % {"hours": f"{this_week.hours:g}", "floor": f"{floor:g}"}
        if this_week is not None
        else ""
    )
    met = sum(1 for _w, row in data if row.minutes >= row.floor_minutes)
    summary += " " + _("The weekly floor was met in %(met)s of the last %(weeks)s weeks.") % {
        "met": met,
        "weeks": len(data),
    }
    chart = charts.hours_chart(
        key="hours",
        title=_("Hours attended per week"),
        description=summary,
        weeks=[(week, float(row.hours)) for week, row in data],
        floor=floor,
    )
    return {
        "chart": chart,
        "summary": summary,
        "rows": [{"week": w, "row": r} for w, r in reversed(data)],
        "floor": floor,
    }


def progress_context(*, patient: User, own: bool) -> dict[str, Any]:
    today = selectors.local_today(patient)
    episode = selectors.episode_for(patient=patient)
    homework = selectors.homework_summary(patient=patient)
    done, overdue = len(homework["done"]), len(homework["overdue"])
    homework_summary = (
        ngettext("%(done)s homework module done", "%(done)s homework modules done", done)
        % {"done": done}
        + ", "
        + ngettext("%(overdue)s overdue.", "%(overdue)s overdue.", overdue) % {"overdue": overdue}
    )
    return {
        "patient": patient,
        "program": selectors.patient_program(patient),
        "episode": episode,
        "today": today,
        "measures": measure_blocks(patient=patient, own=own, today=today, episode=episode),
        "checkins": checkin_block(
            patient=patient, today=today, admitted_on=episode.admitted_on, own=own
        ),
        "hours": hours_block(patient=patient, episode=episode),
        "homework": homework,
        "homework_summary": homework_summary,
    }


def timeline(*, patient: User, limit: int = 150) -> list[dict[str, Any]]:
    """Sessions attended, homework, measures and safety flags, newest first (check-ins have
    their own chart and table)."""
    events: list[dict[str, Any]] = []
    for a in Attendance.objects.filter(patient=patient).select_related("session__group")[:limit]:
        events.append(
            {
                "at": a.session.starts_at,
                "kind": _("Session"),
                "text": f"{a.session.group.name}: {a.get_status_display()} ({a.minutes} min)",
            }
        )
    for hw in Assignment.objects.filter(patient=patient).select_related("module")[:limit]:
        events.append(
            {
                "at": hw.created_at,
                "kind": _("Homework"),
                "text": _("Assigned: %(t)s") % {"t": hw.module.title},
            }
        )
        if hw.submitted_at:
            events.append(
                {
                    "at": hw.submitted_at,
                    "kind": _("Homework"),
                    "text": _("Done: %(t)s") % {"t": hw.module.title},
                }
            )
    for r in MeasureResponse.objects.filter(patient=patient)[:limit]:
        total = f"{r.total} " if r.total is not None else ""
        events.append(
            {
                "at": r.taken_at,
                "kind": _("Measure"),
                "text": f"{r.short_name}: {total}({r.band_label})",
            }
        )
    for f in SafetyFlag.objects.filter(patient=patient)[:limit]:
        events.append({"at": f.opened_at, "kind": _("Safety flag"), "text": f.reason})
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:limit]


def caseload_cells(rows: list[Any]) -> list[dict[str, Any]]:
    """Pre-rendered cells for the caseload table: with 500 rows, building these with
    ``format_html`` is several times faster than template tags per cell. Every value is
    escaped by ``format_html``."""
    chart_url = reverse("progress:chart", args=[0])[: -len("0/")]
    from_label, none_label = _("from"), _("None")
    below_label, on_track_label, open_label = _("Behind"), _("On track"), _("open")
    dash = mark_safe('<span class="muted">—</span>')  # noqa: S308 - a constant

    def change_cell(change: Any, latest: int | None) -> str:
        if change is not None:
            return format_html(
                '<strong>{}</strong> <span class="muted">{} {} ({})</span> '
                '<span class="badge status-{}">{}</span>',
                change.current,
                from_label,
                change.baseline,
                change.delta_text,
                change.status,
                change.status_label,
            )
        return format_html("<strong>{}</strong>", latest) if latest is not None else dash

    out = []
    for row in rows:
        hours = row.hours
        if hours is None:
            hours_cell = dash
        elif row.below_floor:
            hours_cell = format_html(
                '<span class="below-floor">{} / {} h</span> <span class="badge danger">{}</span>',
                f"{hours.hours:g}",
                f"{hours.floor_hours:g}",
                below_label,
            )
        elif hours.floor_status == "on_track":
            hours_cell = format_html(
                '{} / {} h <span class="muted">{}</span>',
                f"{hours.hours:g}",
                f"{hours.floor_hours:g}",
                on_track_label,
            )
        else:
            hours_cell = format_html("{} / {} h", f"{hours.hours:g}", f"{hours.floor_hours:g}")
        out.append(
            {
                "row": row,
                "url": f"{chart_url}{row.patient.pk}/",
                "flags": (
                    format_html('<span class="badge flag">{} {}</span>', row.open_flags, open_label)
                    if row.open_flags
                    else format_html('<span class="muted">{}</span>', none_label)
                ),
                "phq9": change_cell(row.phq9, row.phq9_latest),
                "gad7": change_cell(row.gad7, row.gad7_latest),
                "hours": hours_cell,
                "next": (
                    date_format(timezone.localtime(row.next_session), "SHORT_DATETIME_FORMAT")
                    if row.next_session
                    else dash
                ),
            }
        )
    return out
