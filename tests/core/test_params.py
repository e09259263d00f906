"""Every date and id in a query string: out of range or malformed falls back, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.core.params import date_param, id_param

pytestmark = pytest.mark.django_db

EXTREMES = ["0001-01-01", "9999-12-31", "2026-02-30", "garbage", "9" * 40, "-1", "1" * 25]


def test_date_param_falls_back_on_anything_it_cannot_use():
    today = dt.date(2026, 12, 5)
    assert date_param("2026-12-01", default=today) == dt.date(2026, 12, 1)
    for raw in ("", None, *EXTREMES):
        assert date_param(raw, default=today) == today, raw
    assert date_param("2026-11-01", default=today, earliest=dt.date(2026, 11, 20)) == today
    assert date_param("0001-01-01", default=None, around=today) is None


def test_id_param_takes_only_ids_the_database_can_hold():
    assert id_param("42") == 42
    for raw in ("", None, "0", "-3", "4.2", "١٢", "9" * 19, "9" * 40, "1e9"):
        assert id_param(raw) is None, raw


@pytest.mark.parametrize("value", EXTREMES)
def test_staff_pages_answer_any_date_or_id(client, login, clinician, program, value):
    login(client, clinician)
    for url, name in [
        (reverse("scheduling:today"), "day"),
        (reverse("scheduling:program_week", args=[program.pk]), "week"),
        (reverse("scheduling:program_hours", args=[program.pk]), "week"),
        (reverse("scheduling:program_hours_csv", args=[program.pk]), "week"),
        (reverse("progress:outcomes"), "since"),
        (reverse("progress:outcomes"), "program"),
        (reverse("enrollment:queue"), "program"),
    ]:
        response = client.get(url, {name: value})
        assert response.status_code == 200, (url, name, value)


@pytest.mark.parametrize("value", EXTREMES)
def test_patient_pages_answer_any_date_or_id(client, login, patient, value):
    login(client, patient)
    for url, name in [
        (reverse("scheduling:my_week"), "week"),
        (reverse("progress:checkin"), "day"),
        (reverse("scheduling:appointment_request"), "clinician"),
    ]:
        response = client.get(url, {name: value})
        assert response.status_code in (200, 404), (url, name, value)
        assert response.status_code == 200 or name == "clinician"
