"""Caseload rough edges from issue 29, item 18: who comes first, what each row repeats, how a
phone shows it, and the site's one date-and-time format."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format

from apps.measures.services import safety_flag_raise
from apps.progress import selectors
from tests.factories import patient_in
from tests.progress.factories import admit, score

pytestmark = pytest.mark.django_db


def _patient(program, name: str, phq: tuple[int, int]):
    p = patient_in(program, full_name=name, email=f"{name.split()[0].lower()}@example.test")
    admit(p, program, days_ago=30)
    score(p, "phq9", phq[0], days_ago=30, context="intake")
    score(p, "phq9", phq[1], days_ago=2)
    return p


@pytest.fixture
def caseload(program, clinician):
    anna = _patient(program, "Anna Abbott", (12, 11))
    flagged = _patient(program, "Zed Zephyr", (8, 8))
    safety_flag_raise(patient=flagged, program=program, severity="high", source="t", reason="t")
    taylor = _patient(program, "Taylor Brooks", (9, 18))  # "Worse": +9
    better = _patient(program, "Bea Better", (20, 6))
    return {"anna": anna, "flagged": flagged, "taylor": taylor, "better": better}


def test_default_sort_puts_open_flags_then_worsening_first(clinician, caseload):
    want = [caseload[k].pk for k in ("flagged", "taylor", "anna", "better")]
    assert [r.patient.pk for r in selectors.caseload_rows(user=clinician)] == want
    page = selectors.caseload_page(user=clinician)  # sorted by the database
    assert [r.patient.pk for r in page.object_list] == want


def test_worsening_on_gad7_alone_also_comes_first(program, clinician, caseload):
    score(caseload["better"], "gad7", 4, days_ago=30, context="intake")
    score(caseload["better"], "gad7", 15, days_ago=1)
    rows = selectors.caseload_page(user=clinician).object_list
    assert [r.patient.pk for r in rows][:3] == [
        caseload["flagged"].pk,
        caseload["better"].pk,
        caseload["taylor"].pk,
    ]


def test_caseload_rows_do_not_repeat_admitted_under_every_name(client, login, clinician, caseload):
    login(client, clinician)
    body = client.get(reverse("progress:caseload")).content.decode()
    assert "Taylor Brooks" in body
    assert '<span class="muted">Admitted</span>' not in body


def test_caseload_cells_carry_their_column_names_for_phone_cards(
    client, login, clinician, caseload
):
    login(client, clinician)
    body = client.get(reverse("progress:caseload")).content.decode()
    for label in ("Safety flags", "PHQ-9", "Last check-in", "Hours this week", "Next session"):
        assert f'data-label="{label}"' in body
    assert "caseload-wrap" in body


def test_one_date_and_time_format_in_the_viewers_zone():
    when = dt.datetime(2026, 6, 3, 1, 0, tzinfo=dt.UTC)  # 6 pm the day before in Los Angeles
    with translation.override("en"), timezone.override(zoneinfo.ZoneInfo("America/Los_Angeles")):
        local = timezone.localtime(when)
        assert date_format(local, "SHORT_DATETIME_FORMAT") == "Tue Jun 2, 6:00 PM"
        assert date_format(local, "DATETIME_FORMAT") == "Jun 2, 2026, 6:00 PM"
        assert date_format(local.date(), "DATE_FORMAT") == "Jun 2, 2026"
        assert date_format(local, "TIME_FORMAT") == "6:00 PM"
