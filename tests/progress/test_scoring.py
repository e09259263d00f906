"""Response / remission / meaningful-change rules, at every boundary."""

from __future__ import annotations

import pytest

from apps.measures.scoring import change_summary
from apps.progress.presentation import change_sentence


@pytest.mark.parametrize(
    ("baseline", "current", "response"),
    [
        (16, 8, True),  # exactly 50%
        (16, 9, False),  # 43.75%
        (15, 7, True),  # 53%: (15 - 7) * 2 = 16 >= 15
        (15, 8, False),  # 46.7%
        (2, 1, True),
        (0, 0, False),  # nothing to drop from
        (10, 14, False),
    ],
)
def test_response_is_a_drop_of_at_least_half(baseline, current, response):
    change = change_summary("phq9", baseline, current)
    assert change is not None
    assert change.response is response


@pytest.mark.parametrize(("current", "remission"), [(4, True), (5, False), (0, True), (27, False)])
def test_remission_is_phq9_below_5(current, remission):
    assert change_summary("phq9", 20, current).remission is remission


def test_gad7_remission_uses_the_same_cut_off():
    assert change_summary("gad7", 12, 4).remission is True
    assert change_summary("gad7", 12, 5).remission is False


@pytest.mark.parametrize(
    ("baseline", "current", "meaningful", "status"),
    [
        (12, 17, True, "worse"),  # +5
        (12, 16, False, "no_change"),  # +4
        (16, 11, True, "improved"),  # -5, 31%
        (16, 12, False, "no_change"),  # -4
        (16, 8, True, "response"),
        (16, 4, True, "remission"),
        (6, 3, False, "remission"),  # remission beats everything, meaningful or not
    ],
)
def test_five_points_is_a_meaningful_change(baseline, current, meaningful, status):
    change = change_summary("phq9", baseline, current)
    assert change.meaningful is meaningful
    assert change.status == status


def test_no_change_without_two_scores():
    assert change_summary("phq9", None, 5) is None
    assert change_summary("phq9", 5, None) is None


def test_percent_and_delta():
    change = change_summary("phq9", 16, 9)
    assert change.delta == -7
    assert change.percent == -44


def test_sentence_for_the_patient_and_for_clinicians():
    change = change_summary("phq9", 16, 9)
    assert change_sentence("PHQ-9", change, own=True).startswith(
        "Your PHQ-9 went from 16 to 9 since admission."
    )
    assert change_sentence("PHQ-9", change, own=False).startswith("PHQ-9 went from 16 to 9")
    assert "remission" in change_sentence("PHQ-9", change_summary("phq9", 16, 3), own=True)
    assert "response" in change_sentence("PHQ-9", change_summary("phq9", 16, 8), own=True)
    assert "rise of 5" in change_sentence("PHQ-9", change_summary("phq9", 10, 15), own=True)
    assert change_sentence("PHQ-9", None, own=True) == ""
