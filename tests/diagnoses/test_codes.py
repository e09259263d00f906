"""The code set and its search: real CMS codes from simple-icd-10-cm, billable leaves first,
and fast once the index is built."""

from __future__ import annotations

import time

import pytest

from apps.diagnoses import codes


@pytest.fixture(scope="module", autouse=True)
def built_index():
    codes.index()


def test_code_prefix_finds_recurrent_depression_billable_first():
    results = codes.search("F33")
    assert [c.code for c in results[:3]] == ["F33.0", "F33.1", "F33.2"]
    billable = [c.billable for c in results]
    assert billable == sorted(billable, reverse=True)  # every billable code before any other
    assert "F33" in [c.code for c in results]  # the category itself, last and not pickable
    assert not next(c for c in results if c.code == "F33").billable


def test_words_find_major_depressive_codes():
    found = {c.code for c in codes.search("major depress")}
    assert {"F32.0", "F32.1", "F33.1", "F33.2"} <= found
    assert all("major depressive" in c.description.lower() for c in codes.search("major depress"))


def test_words_in_any_order_and_case():
    assert "F10.20" in {c.code for c in codes.search("Uncomplicated ALCOHOL dependence")}


def test_a_dotted_code_finds_itself():
    assert [c.code for c in codes.search("f43.10")] == ["F43.10"]


def test_short_or_unknown_queries_find_nothing():
    assert codes.search("F") == []
    assert codes.search(" ") == []
    assert codes.search("qqzzxx") == []


def test_results_are_capped():
    assert len(codes.search("disorder")) == codes.MAX_RESULTS


@pytest.mark.parametrize(
    "raw, expected",
    [("F33.1", "F33.1"), ("f331", "F33.1"), (" F41.1 ", "F41.1"), ("F32.A", "F32.A")],
)
def test_billable_codes_are_normalised(raw, expected):
    assert codes.billable_code(raw).code == expected


@pytest.mark.parametrize(
    "raw", ["F33", "T43.011", "F01-F09", "5", "F99.99", "ZZZ.9", "F3.31", "", "'; drop", "F33.1X"]
)
def test_categories_ranges_and_made_up_codes_are_not_billable(raw):
    assert codes.billable_code(raw) is None


def test_search_is_fast_once_the_index_is_built():
    assert codes.build_seconds is not None and codes.build_seconds < 30
    queries = ["F33", "major depress", "post traum", "disorder", "alcohol", "F1"]
    started = time.perf_counter()
    for _ in range(20):
        for q in queries:
            codes.search(q)
    per_query = (time.perf_counter() - started) / (20 * len(queries))
    assert per_query < 0.02, per_query  # measured about 0.1 ms on a 2-core machine
