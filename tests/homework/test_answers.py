"""Server-side validation of each step kind (no database)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from apps.homework.answers import (
    AnswerError,
    DictData,
    is_complete,
    parse_answer,
    parse_checklist,
    parse_log_entry,
    parse_quiz,
    parse_rating,
    parse_reading,
    parse_reflection,
    parse_worksheet,
)
from apps.homework.schema import (
    ChecklistStep,
    PracticeLogStep,
    QuizStep,
    RatingStep,
    ReadingStep,
    ReflectionStep,
    WorksheetStep,
)

TODAY = dt.date(2026, 3, 10)

reading = ReadingStep(kind="reading", id="r", title="Read", body="Some *text*")
reflection = ReflectionStep(
    kind="reflection", id="t", title="Think", prompt="Why?", min_length=10, max_length=50
)
rating = RatingStep(kind="rating", id="n", title="Rate", prompt="How much?")
single = QuizStep.model_validate(
    {
        "kind": "quiz",
        "id": "q",
        "title": "Q",
        "question": "Pick one",
        "options": [
            {"id": "a", "text": "A", "correct": True, "feedback": "yes"},
            {"id": "b", "text": "B", "feedback": "no"},
        ],
    }
)
multiple = QuizStep.model_validate(
    {
        "kind": "quiz",
        "id": "m",
        "title": "M",
        "question": "Pick any",
        "multiple": True,
        "options": [
            {"id": "a", "text": "A", "correct": True, "feedback": "yes"},
            {"id": "b", "text": "B", "correct": True, "feedback": "yes"},
            {"id": "c", "text": "C", "feedback": "no"},
        ],
    }
)
checklist = ChecklistStep.model_validate(
    {
        "kind": "checklist",
        "id": "c",
        "title": "C",
        "min_checked": 2,
        "items": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y"}, {"id": "z", "text": "Z"}],
    }
)
log = PracticeLogStep.model_validate(
    {
        "kind": "practice_log",
        "id": "log",
        "title": "Log",
        "prompt": "Log it",
        "min_entries": 2,
        "fields": [
            {"id": "time", "label": "Time", "type": "time", "required": False},
            {"id": "minutes", "label": "Minutes", "type": "number", "min": 1, "max": 60},
            {"id": "before", "label": "Before", "type": "scale"},
            {"id": "note", "label": "Note", "type": "text", "required": False, "max_length": 10},
        ],
        "chart": {"title": "Before", "series": ["before"]},
    }
)
worksheet = WorksheetStep.model_validate(
    {
        "kind": "worksheet",
        "id": "w",
        "title": "W",
        "fields": [
            {"id": "warning", "label": "Warning signs", "max_length": 20},
            {"id": "extra", "label": "Extra", "required": False},
        ],
    }
)


# --- reading ----------------------------------------------------------------------------
def test_reading_marks_read_only_when_ticked():
    assert parse_reading(reading, DictData({"read": "1"})) == {"read": True}
    assert parse_reading(reading, DictData({})) == {"read": False}
    assert is_complete(reading, {"read": True})
    assert not is_complete(reading, {"read": False})


# --- reflection -------------------------------------------------------------------------
def test_reflection_keeps_work_in_progress_below_minimum_but_is_not_complete():
    value = parse_reflection(reflection, DictData({"text": "short"}))
    assert value == {"text": "short"}
    assert not is_complete(reflection, value)
    assert is_complete(reflection, {"text": "long enough text"})


def test_reflection_refuses_text_over_the_limit():
    with pytest.raises(AnswerError, match="under 50 characters"):
        parse_reflection(reflection, DictData({"text": "x" * 51}))


def test_reflection_normalises_line_endings_before_counting():
    value = parse_reflection(reflection, DictData({"text": "a\r\n" * 25}))
    assert len(value["text"]) == 50


def test_reflection_refuses_non_text():
    with pytest.raises(AnswerError):
        parse_reflection(reflection, DictData({"text": 12}))


# --- rating -----------------------------------------------------------------------------
@pytest.mark.parametrize("raw,expected", [("0", 0), ("10", 10), (" 7 ", 7)])
def test_rating_accepts_zero_to_ten(raw, expected):
    assert parse_rating(rating, DictData({"value": raw})) == {"value": expected}


@pytest.mark.parametrize("raw", ["-1", "11", "abc", "3.5", "1e1"])
def test_rating_refuses_out_of_range_or_not_whole(raw):
    with pytest.raises(AnswerError):
        parse_rating(rating, DictData({"value": raw}))


def test_rating_empty_is_stored_as_none_and_incomplete():
    value = parse_rating(rating, DictData({"value": ""}))
    assert value == {"value": None}
    assert not is_complete(rating, value)
    assert is_complete(rating, {"value": 0})


# --- quiz -------------------------------------------------------------------------------
def test_single_choice_quiz_refuses_two_answers():
    with pytest.raises(AnswerError, match="one"):
        parse_quiz(single, DictData({"choice": ["a", "b"]}))


def test_quiz_refuses_unknown_option():
    with pytest.raises(AnswerError):
        parse_quiz(single, DictData({"choice": "zzz"}))


def test_multiple_choice_quiz_stores_choices_in_content_order_without_repeats():
    value = parse_quiz(multiple, DictData({"choice": ["c", "a", "a"]}))
    assert value == {"choices": ["a", "c"]}
    assert is_complete(multiple, value)
    assert not is_complete(multiple, parse_quiz(multiple, DictData({})))


# --- checklist --------------------------------------------------------------------------
def test_checklist_refuses_unknown_item():
    with pytest.raises(AnswerError):
        parse_checklist(checklist, DictData({"item": ["x", "nope"]}))


def test_checklist_complete_from_min_checked():
    one = parse_checklist(checklist, DictData({"item": ["y"]}))
    two = parse_checklist(checklist, DictData({"item": ["z", "x"]}))
    assert not is_complete(checklist, one)
    assert two == {"checked": ["x", "z"]}
    assert is_complete(checklist, two)


# --- practice log -----------------------------------------------------------------------
def _entry(**overrides):
    data = {
        "entry_id": str(uuid.uuid4()),
        "date": "2026-03-09",
        "f-time": "07:30",
        "f-minutes": "5",
        "f-before": "7",
        "f-note": "",
    }
    data.update(overrides)
    return DictData(data)


def test_log_entry_typed_fields():
    value = parse_log_entry(log, _entry(), today=TODAY)
    assert value["date"] == "2026-03-09"
    assert value["minutes"] == 5 and value["before"] == 7
    assert value["time"] == "07:30" and value["note"] is None


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"entry_id": "not-a-uuid"}, "out of date"),
        ({"date": "yesterday"}, "date"),
        ({"date": "2026-03-12"}, "future"),
        ({"date": "2024-01-01"}, "year"),
        ({"f-minutes": ""}, "required"),
        ({"f-minutes": "61"}, "between 1 and 60"),
        ({"f-before": "11"}, "between 0 and 10"),
        ({"f-before": "seven"}, "whole number"),
        ({"f-time": "25:00"}, "time"),
        ({"f-note": "x" * 11}, "too long"),
    ],
)
def test_log_entry_refuses_bad_values(overrides, message):
    with pytest.raises(AnswerError, match=message):
        parse_log_entry(log, _entry(**overrides), today=TODAY)


def test_log_complete_from_min_entries_and_not_savable_as_plain_answer():
    assert not is_complete(log, {"entries": [{"id": "1"}]})
    assert is_complete(log, {"entries": [{"id": "1"}, {"id": "2"}]})
    with pytest.raises(AnswerError):
        parse_answer(log, DictData({}))


# --- worksheet --------------------------------------------------------------------------
def test_worksheet_stores_named_fields_and_refuses_too_long():
    value = parse_worksheet(worksheet, DictData({"f-warning": "Isolating", "f-extra": ""}))
    assert value == {"fields": {"warning": "Isolating", "extra": ""}}
    assert is_complete(worksheet, value)
    with pytest.raises(AnswerError, match="Warning signs"):
        parse_worksheet(worksheet, DictData({"f-warning": "x" * 21}))


def test_worksheet_incomplete_while_a_required_field_is_empty():
    value = parse_worksheet(worksheet, DictData({"f-extra": "only the optional one"}))
    assert not is_complete(worksheet, value)


def test_worksheet_ignores_fields_it_does_not_have():
    value = parse_worksheet(worksheet, DictData({"f-warning": "a", "f-evil": "b"}))
    assert set(value["fields"]) == {"warning", "extra"}
