"""Server-side validation of answers, one parser per step kind.

Each parser takes the posted form data of one step and returns the JSON value stored on
``Response.value``, or raises ``AnswerError`` with a message the patient can act on. Autosave
stores work in progress, so a parser accepts an incomplete answer (a short reflection, an
empty worksheet field); whether a step is *done* is ``is_complete``'s question, asked at
submit time.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.homework.schema import (
    ChecklistStep,
    LogField,
    PracticeLogStep,
    QuizStep,
    RatingStep,
    ReadingStep,
    ReflectionStep,
    Step,
    WorksheetStep,
)

# Practice entries may be back-dated (a week of logging typed in at once) but not by more
# than this, and not into the future beyond a day of time-zone slack.
MAX_BACKDATE_DAYS = 366
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class AnswerError(ValueError):
    """The posted answer cannot be stored as it is; the message says why."""


class FormData(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...


class DictData:
    """Adapts a plain dict (tests, JSON) to the QueryDict interface the parsers use."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key, default)
        return value[-1] if isinstance(value, list) and value else value

    def getlist(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [value]


def _text(data: FormData, key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnswerError(_("Expected text."))
    # Normalise line endings so a length limit means the same in every browser.
    return value.replace("\r\n", "\n")


def _int(raw: Any, *, low: int, high: int, label: str) -> int:
    if isinstance(raw, bool):
        raise AnswerError(_("%(label)s must be a whole number.") % {"label": label})
    try:
        number = int(str(raw).strip())
    except (TypeError, ValueError):
        raise AnswerError(_("%(label)s must be a whole number.") % {"label": label}) from None
    if not low <= number <= high:
        raise AnswerError(
            _("%(label)s must be between %(low)s and %(high)s.")
            % {"label": label, "low": low, "high": high}
        )
    return number


def parse_reading(step: ReadingStep, data: FormData) -> dict[str, Any]:
    return {"read": data.get("read") in ("1", "on", "true", True)}


def parse_reflection(step: ReflectionStep, data: FormData) -> dict[str, Any]:
    text = _text(data, "text")
    if len(text) > step.max_length:
        raise AnswerError(
            _("Please keep this under %(max)s characters (it is %(n)s).")
            % {"max": step.max_length, "n": len(text)}
        )
    return {"text": text}


def parse_rating(step: RatingStep, data: FormData) -> dict[str, Any]:
    raw = data.get("value", "")
    if raw in ("", None):
        return {"value": None}
    return {"value": _int(raw, low=0, high=10, label=_("The rating"))}


def parse_quiz(step: QuizStep, data: FormData) -> dict[str, Any]:
    known = {o.id for o in step.options}
    choices = [str(c) for c in data.getlist("choice")]
    unknown = [c for c in choices if c not in known]
    if unknown:
        raise AnswerError(_("That answer is not one of the options."))
    if not step.multiple and len(set(choices)) > 1:
        raise AnswerError(_("Choose one answer."))
    # Keep the content's order and drop repeats, so the same choice saves the same value.
    return {"choices": [o.id for o in step.options if o.id in set(choices)]}


def parse_checklist(step: ChecklistStep, data: FormData) -> dict[str, Any]:
    known = {i.id for i in step.items}
    checked = {str(c) for c in data.getlist("item")}
    if checked - known:
        raise AnswerError(_("That item is not on this checklist."))
    return {"checked": [i.id for i in step.items if i.id in checked]}


def parse_worksheet(step: WorksheetStep, data: FormData) -> dict[str, Any]:
    values: dict[str, str] = {}
    for field in step.fields:
        text = _text(data, f"f-{field.id}")
        if len(text) > field.max_length:
            raise AnswerError(
                _("“%(label)s” is too long: at most %(max)s characters.")
                % {"label": field.label, "max": field.max_length}
            )
        values[field.id] = text
    return {"fields": values}


def parse_log_field(field: LogField, raw: Any) -> int | str | None:
    """One typed value of a practice-log entry; ``None`` when left empty and optional."""
    text = "" if raw is None else str(raw).strip()
    if text == "":
        if field.required:
            raise AnswerError(_("“%(label)s” is required.") % {"label": field.label})
        return None
    if field.type == "scale":
        return _int(text, low=0, high=10, label=field.label)
    if field.type == "number":
        return _int(text, low=field.min, high=field.max, label=field.label)
    if field.type == "time":
        if not TIME_RE.match(text):
            raise AnswerError(_("“%(label)s” must be a time like 07:30.") % {"label": field.label})
        return text
    if len(text) > field.max_length:
        raise AnswerError(
            _("“%(label)s” is too long: at most %(max)s characters.")
            % {"label": field.label, "max": field.max_length}
        )
    return text


def parse_log_entry(
    step: PracticeLogStep, data: FormData, *, today: dt.date | None = None
) -> dict[str, Any]:
    """A new practice-log entry. ``entry_id`` comes from the form (a UUID rendered with it), so
    posting the same form twice stores one entry, not two."""
    today = today or timezone.localdate()
    try:
        entry_id = str(uuid.UUID(str(data.get("entry_id", ""))))
    except ValueError:
        raise AnswerError(_("This form is out of date; reload the page and try again.")) from None
    raw_date = str(data.get("date", "") or "").strip()
    try:
        day = dt.date.fromisoformat(raw_date)
    except ValueError:
        raise AnswerError(_("Enter the date of the practice, like 2025-03-14.")) from None
    if day > today + dt.timedelta(days=1):
        raise AnswerError(_("The date is in the future."))
    if day < today - dt.timedelta(days=MAX_BACKDATE_DAYS):
        raise AnswerError(_("The date is more than a year ago."))
    entry: dict[str, Any] = {"id": entry_id, "date": day.isoformat()}
    for field in step.fields:
        entry[field.id] = parse_log_field(field, data.get(f"f-{field.id}"))
    return entry


def parse_answer(step: Step, data: FormData) -> dict[str, Any]:
    """The stored value of ``step`` from posted data (practice logs add entries instead)."""
    if isinstance(step, ReadingStep):
        return parse_reading(step, data)
    if isinstance(step, ReflectionStep):
        return parse_reflection(step, data)
    if isinstance(step, RatingStep):
        return parse_rating(step, data)
    if isinstance(step, QuizStep):
        return parse_quiz(step, data)
    if isinstance(step, ChecklistStep):
        return parse_checklist(step, data)
    if isinstance(step, WorksheetStep):
        return parse_worksheet(step, data)
    raise AnswerError(_("Add practice entries with the entry form."))


def is_complete(step: Step, value: Mapping[str, Any] | None) -> bool:
    """Whether ``value`` finishes ``step`` (all required parts present)."""
    value = value or {}
    if isinstance(step, ReadingStep):
        return bool(value.get("read"))
    if isinstance(step, ReflectionStep):
        return len((value.get("text") or "").strip()) >= max(step.min_length, 1)
    if isinstance(step, RatingStep):
        return value.get("value") is not None
    if isinstance(step, QuizStep):
        return bool(value.get("choices"))
    if isinstance(step, ChecklistStep):
        return len(value.get("checked") or []) >= step.min_checked
    if isinstance(step, WorksheetStep):
        fields = value.get("fields") or {}
        return all((fields.get(f.id) or "").strip() for f in step.fields if f.required) and any(
            (v or "").strip() for v in fields.values()
        )
    if isinstance(step, PracticeLogStep):
        return len(value.get("entries") or []) >= max(step.min_entries, 1)
    return False
