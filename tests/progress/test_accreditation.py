"""Measurement-based care outcomes for accreditation (Joint Commission CTS.03.01.09): response
and remission at discharge, median length of stay, by program and by quarter of discharge."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.progress import selectors
from tests.factories import patient_in
from tests.progress.factories import admit, discharge, score

pytestmark = pytest.mark.django_db


def _episode(program, clinician, name, phq, *, stay, discharged_days_ago=1):
    p = patient_in(program, full_name=name)
    app = admit(p, program, days_ago=stay + discharged_days_ago)
    score(p, "phq9", phq[0], days_ago=stay + discharged_days_ago, context="intake")
    score(p, "phq9", phq[1], days_ago=discharged_days_ago, context="discharge")
    discharge(app, by=clinician, days_ago=discharged_days_ago)
    return p


def test_response_and_remission_at_their_boundaries(program, clinician, admin):
    _episode(program, clinician, "Exactly half", (20, 10), stay=40)  # response, no remission
    _episode(program, clinician, "Just short", (20, 11), stay=50)  # neither
    _episode(program, clinician, "Remission at 4", (8, 4), stay=60)  # response and remission
    _episode(program, clinician, "Five is not remission", (6, 5), stay=70)  # neither
    [row] = selectors.program_outcomes(user=admin, program_id=program.pk)
    assert row.phq9_pairs == 4
    assert row.phq9_response_rate == 50.0
    assert row.phq9_remission_rate == 25.0
    assert row.median_stay_days == 55.0
    assert row.gad7_response_rate is None


def test_quarters_group_patients_by_the_quarter_they_left(program, clinician, admin):
    today = dt.date.today()
    start, _end = selectors.quarter_of(today)
    days_into = (today - start).days
    _episode(program, clinician, "This quarter", (20, 4), stay=30, discharged_days_ago=0)
    _episode(
        program, clinician, "Last quarter", (20, 18), stay=30, discharged_days_ago=days_into + 3
    )
    rows = [
        r for r in selectors.quarterly_outcomes(user=admin, today=today) if r.program == program
    ]
    assert len(rows) == 4
    this, last = rows[0], rows[1]
    assert this.period.endswith(f"Q{(start.month - 1) // 3 + 1}")
    assert (this.discharges, this.phq9_remission_rate) == (1, 100.0)
    assert (last.discharges, last.phq9_response_rate) == (1, 0.0)
    assert rows[2].discharges == 0 and rows[2].median_stay_days is None


@pytest.mark.parametrize(
    ("day", "first", "nxt"),
    [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 1), dt.date(2026, 4, 1)),
        (dt.date(2026, 3, 31), dt.date(2026, 1, 1), dt.date(2026, 4, 1)),
        (dt.date(2026, 10, 1), dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
        (dt.date(2026, 12, 31), dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
    ],
)
def test_quarter_bounds(day, first, nxt):
    assert selectors.quarter_of(day) == (first, nxt)


def test_outcomes_page_shows_quarters_and_documentation_timeliness(
    client, login, admin, program, clinician
):
    _episode(program, clinician, "One", (20, 4), stay=30)
    login(client, admin)
    page = client.get(reverse("progress:outcomes")).content.decode()
    assert "By quarter of discharge" in page and "Notes signed on time" in page
    csv_text = client.get(reverse("progress:outcomes_csv")).content.decode()
    header = csv_text.splitlines()[0]
    assert "phq9_remission_pct" in header and "median_stay_days" in header
    assert len(csv_text.splitlines()) == 1 + 1 + 4  # all-time row + four quarters
