"""Scoring rules from the published manuals (shared/CLINICAL.md), at every band boundary."""

from __future__ import annotations

import pytest

from apps.measures.registry import AUDITC, CSSRS, DAST10, GAD7, INSTRUMENTS, PHQ9
from apps.measures.scoring import AnswersInvalid, change_summary, score


def answers_with_total(prefix_count: int, total: int, per_item_max: int = 3) -> dict[str, int]:
    """Spread ``total`` over items q1..qN, filling from the first item (item 9 last)."""
    out = {}
    left = total
    for n in range(1, prefix_count + 1):
        value = min(per_item_max, left)
        out[f"q{n}"] = value
        left -= value
    assert left == 0
    return out


PHQ9_BOUNDARIES = [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
    (14, "moderate"), (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"),
    (27, "severe"),
]  # fmt: skip


@pytest.mark.parametrize(("total", "band"), PHQ9_BOUNDARIES)
def test_phq9_band_at_boundary(total, band):
    result = score(PHQ9, answers_with_total(9, total))
    assert result.total == total
    assert result.band == band


def test_phq9_item9_above_zero_flags_whatever_the_total():
    answers = {f"q{n}": 0 for n in range(1, 10)}
    answers["q9"] = 1
    result = score(PHQ9, answers)
    assert result.total == 1
    assert result.band == "minimal"
    assert [f.code for f in result.flags] == ["phq9_item9"]
    assert result.flags[0].severity == "high"
    assert result.flags[0].show_crisis


def test_phq9_severe_total_without_item9_raises_no_flag():
    answers = {f"q{n}": 3 for n in range(1, 9)}
    answers["q9"] = 0
    result = score(PHQ9, answers)
    assert result.total == 24
    assert result.flags == []


def test_phq9_difficulty_question_is_asked_but_not_scored():
    answers = {**answers_with_total(9, 6), "difficulty": 3}
    result = score(PHQ9, answers)
    assert result.total == 6
    assert result.answers["difficulty"] == 3


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
     (14, "moderate"), (15, "severe"), (21, "severe")],
)  # fmt: skip
def test_gad7_band_at_boundary(total, band):
    result = score(GAD7, answers_with_total(7, total))
    assert (result.total, result.band) == (total, band)
    assert result.flags == []


def cssrs(**yes):
    base = {"q1": 0, "q2": 0, "q6": 0}
    base.update(yes)
    return base


@pytest.mark.parametrize(
    ("answers", "band", "flag", "severity"),
    [
        (cssrs(), "none", None, None),
        (cssrs(q1=1), "low", None, None),
        (cssrs(q1=1, q2=1, q3=0, q4=0, q5=0), "low", None, None),
        (cssrs(q2=1, q3=1, q4=0, q5=0), "moderate", "cssrs_moderate", "moderate"),
        (cssrs(q6=1, q6_recent=0), "moderate", "cssrs_moderate", "moderate"),
        (cssrs(q2=1, q3=0, q4=1, q5=0), "high", "cssrs_high", "urgent"),
        (cssrs(q2=1, q3=1, q4=0, q5=1), "high", "cssrs_high", "urgent"),
        (cssrs(q6=1, q6_recent=1), "high", "cssrs_high", "urgent"),
    ],
)
def test_cssrs_triage_and_flags(answers, band, flag, severity):
    result = score(CSSRS, answers)
    assert result.total is None
    assert result.band == band
    if flag is None:
        assert result.flags == []
    else:
        assert [(f.code, f.severity) for f in result.flags] == [(flag, severity)]


def test_cssrs_skip_logic_discards_q3_to_q5_when_q2_is_no():
    result = score(CSSRS, cssrs(q2=0, q3=1, q4=1, q5=1))
    assert "q3" not in result.answers and "q4" not in result.answers
    assert result.band == "none"


def test_cssrs_requires_q3_to_q5_when_q2_is_yes():
    with pytest.raises(AnswersInvalid) as exc:
        score(CSSRS, cssrs(q2=1))
    assert set(exc.value.errors) == {"q3", "q4", "q5"}


def test_cssrs_requires_recency_when_q6_is_yes():
    with pytest.raises(AnswersInvalid) as exc:
        score(CSSRS, cssrs(q6=1))
    assert set(exc.value.errors) == {"q6_recent"}


def auditc(total, sex):
    answers = answers_with_total(3, total, per_item_max=4)
    answers["sex"] = 1 if sex == "male" else 0
    return answers


@pytest.mark.parametrize(
    ("total", "sex", "band"),
    [
        (0, "female", "negative"), (2, "female", "negative"), (3, "female", "positive"),
        (12, "female", "positive"), (0, "male", "negative"), (3, "male", "negative"),
        (4, "male", "positive"), (12, "male", "positive"),
    ],
)  # fmt: skip
def test_auditc_sex_specific_cutoffs(total, sex, band):
    result = score(AUDITC, auditc(total, sex))
    assert (result.total, result.band) == (total, band)


def test_auditc_needs_the_cutoff_question():
    answers = auditc(5, "male")
    del answers["sex"]
    with pytest.raises(AnswersInvalid) as exc:
        score(AUDITC, answers)
    assert "sex" in exc.value.errors


def dast(yes_count):
    """``yes_count`` problem answers; item 3 is answered "yes" (no problem) unless needed."""
    answers = {f"q{n}": 0 for n in range(1, 11)}
    answers["q3"] = 1  # "always able to stop": yes scores 0
    others = [n for n in range(1, 11) if n != 3]
    for n in others[: min(yes_count, 9)]:
        answers[f"q{n}"] = 1
    if yes_count == 10:
        answers["q3"] = 0  # "no" scores 1
    return answers


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "none"), (1, "low"), (2, "low"), (3, "moderate"), (5, "moderate"),
     (6, "substantial"), (8, "substantial"), (9, "severe"), (10, "severe")],
)  # fmt: skip
def test_dast10_band_at_boundary(total, band):
    result = score(DAST10, dast(total))
    assert (result.total, result.band) == (total, band)


def test_dast10_item3_is_reverse_scored():
    all_no = {f"q{n}": 0 for n in range(1, 11)}
    assert score(DAST10, all_no).total == 1  # "no" to item 3 scores 1
    all_no["q3"] = 1
    assert score(DAST10, all_no).total == 0


@pytest.mark.parametrize("code", sorted(INSTRUMENTS))
def test_missing_answers_are_refused_per_item(code):
    with pytest.raises(AnswersInvalid) as exc:
        score(INSTRUMENTS[code], {})
    assert exc.value.errors


@pytest.mark.parametrize("bad", [4, -1, "x", "", None, True, 2.5])
def test_out_of_range_answers_are_refused(bad):
    answers = answers_with_total(9, 0)
    answers["q1"] = bad
    with pytest.raises(AnswersInvalid) as exc:
        score(PHQ9, answers)
    assert "q1" in exc.value.errors


def test_string_answers_from_forms_are_accepted():
    answers = {k: str(v) for k, v in answers_with_total(9, 12).items()}
    assert score(PHQ9, answers).total == 12


def test_not_a_mapping_is_refused():
    with pytest.raises(AnswersInvalid):
        score(PHQ9, ["1", "2"])  # type: ignore[arg-type]


@pytest.mark.parametrize("code", sorted(INSTRUMENTS))
def test_every_sum_instrument_has_contiguous_bands_covering_its_range(code):
    inst = INSTRUMENTS[code]
    if inst.band_method != "sum":
        return
    band_sets = list(inst.band_variants.values()) or [inst.bands]
    for bands in band_sets:
        covered = [n for b in bands for n in range(b.min, b.max + 1)]
        assert covered == list(range(0, inst.max_total + 1))


def test_change_summary_response_and_remission():
    change = change_summary("phq9", 20, 4)
    assert change.delta == -16 and change.response and change.remission
    assert not change_summary("phq9", 20, 11).response  # 9 < half of 20
    assert change_summary("phq9", 20, 10).response  # exactly 50 %
    assert not change_summary("gad7", 12, 5).remission
    assert change_summary("phq9", None, 5) is None
