"""The demo seed gives demo patients six weeks of history, varied trajectories, and is
idempotent."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from apps.accounts import demo as accounts_demo
from apps.accounts.models import User
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.measures.scoring import change_summary
from apps.progress import demo, selectors
from apps.progress.models import DailyCheckIn

pytestmark = pytest.mark.django_db


def test_demo_seed_gives_six_weeks_of_history_and_is_idempotent():
    out = io.StringIO()
    accounts_demo.seed(out)
    demo.seed(out)
    counts = (DailyCheckIn.objects.count(), MeasureResponse.objects.count())
    demo.seed(out)
    assert (DailyCheckIn.objects.count(), MeasureResponse.objects.count()) == counts
    assert not SafetyFlag.objects.exists()

    p1 = User.objects.get(email="patient1@demo.test")
    days = list(DailyCheckIn.objects.filter(patient=p1).values_list("day", flat=True))
    assert 30 <= len(days) < 42  # six weeks with a few missed days
    assert (max(days) - min(days)).days >= 38
    statuses = {}
    for number in range(1, 13):
        patient = User.objects.get(email=f"patient{number}@demo.test")
        series = selectors.measure_series(patient=patient, code="phq9")
        assert len(series) >= 3
        statuses[number] = change_summary("phq9", series[0].total, series[-1].total).status
    assert statuses[4] == "worse"
    assert statuses[6] == "remission"
    assert "response" in statuses.values()
    # Odd-numbered patients have this fortnight's PHQ-9 and GAD-7 still to do.
    assert [d.code for d in selectors.measures_due(patient=p1)] == ["phq9", "gad7"]
    p2 = User.objects.get(email="patient2@demo.test")
    assert selectors.measures_due(patient=p2) == []


def test_demo_continues_from_an_enrollment_admission_and_intake():
    from apps.programs.models import Program
    from tests.progress.factories import admit, score

    accounts_demo.seed(io.StringIO())
    program = Program.objects.get(slug="adult-iop")
    p3 = User.objects.get(email="patient3@demo.test")
    app = admit(p3, program, days_ago=30)
    score(p3, "phq9", 12, days_ago=34, context="intake")
    score(p3, "gad7", 10, days_ago=34, context="intake")
    demo.seed(io.StringIO())
    phq = selectors.measure_series(patient=p3, code="phq9")
    assert [p.total for p in phq][0] == 12  # enrollment's intake is the baseline, not replaced
    assert phq[1].taken_at.astimezone(
        selectors.patient_zone(p3)
    ).date() == app.start_date + dt.timedelta(days=14)
    days = DailyCheckIn.objects.filter(patient=p3).values_list("day", flat=True)
    assert min(days) >= app.start_date  # no check-ins before admission
    # patient3 is odd: round 2 (day 28) is left to do.
    assert [d.code for d in selectors.measures_due(patient=p3)] == ["phq9", "gad7"]
