"""Date and number query parameters of every view, with extreme and malformed values
(issue 24 item 10: ``/schedule/today/?day=0001-01-01`` was a 500 OverflowError).

The choice (apps/core/params.py): a page opens on its default (today, this week, no
filter) and a date it cannot show is named in a warning message; never a 400 or a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.params import query_date, query_int
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db

BAD_DATES = ["0001-01-01", "9999-12-31", "0000-00-00", "2026-02-30", "yesterday", "1" * 40]
BAD_INTS = ["-1", "0", "abc", "1e9", "9" * 19, "9" * 40, "１２", " 3 ", "0x10"]


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


@pytest.mark.parametrize("value", BAD_DATES)
def test_schedule_today_opens_on_today_for_a_bad_day(client, login, clinician, value):
    login(client, clinician)
    response = client.get(reverse("scheduling:today"), {"day": value})
    assert response.status_code == 200
    assert "can't be shown here" in _messages(response)


@pytest.mark.parametrize("value", BAD_DATES)
def test_my_week_opens_on_this_week_for_a_bad_week(client, login, patient, value):
    login(client, patient)
    response = client.get(reverse("scheduling:my_week"), {"week": value})
    assert response.status_code == 200
    assert "can't be shown here" in _messages(response)


@pytest.mark.parametrize("value", BAD_DATES)
def test_program_week_opens_on_this_week_for_a_bad_week(client, login, clinician, program, value):
    login(client, clinician)
    response = client.get(reverse("scheduling:program_week", args=[program.pk]), {"week": value})
    assert response.status_code == 200
    assert "can't be shown here" in _messages(response)


@pytest.mark.parametrize("value", [*BAD_DATES, "2999-01-01"])
def test_checkin_opens_on_today_for_a_bad_day(client, login, patient, value):
    login(client, patient)
    response = client.get(reverse("progress:checkin"), {"day": value})
    assert response.status_code == 200
    assert response.context["form"].initial["day"] == timezone.localdate().isoformat()


@pytest.mark.parametrize("url", ["progress:outcomes", "progress:outcomes_csv"])
@pytest.mark.parametrize("value", BAD_DATES + BAD_INTS)
def test_outcomes_ignore_a_bad_since_or_program(client, login, clinician, url, value):
    login(client, clinician)
    assert client.get(reverse(url), {"since": value, "program": value}).status_code == 200


@pytest.mark.parametrize("value", BAD_INTS)
def test_application_queue_ignores_a_bad_program(client, login, clinician, value):
    login(client, clinician)
    assert client.get(reverse("enrollment:queue"), {"program": value}).status_code == 200


@pytest.mark.parametrize("value", BAD_INTS)
def test_room_transcript_ignores_a_bad_before(client, login, program, clinician, patient, value):
    session = make_session(
        program,
        [clinician],
        [patient],
        starts_in=dt.timedelta(hours=-3),
        length=dt.timedelta(hours=1),
    )
    login(client, patient)
    url = reverse("rooms:room", args=[session.pk])
    response = client.get(url, {"before": value})
    assert response.status_code == 200
    assert response.context["messages"] is not None  # the transcript page, not an error


def test_query_date_keeps_a_good_date_within_bounds(rf):
    today = dt.date(2026, 12, 5)
    request = rf.get("/", {"day": "2026-12-01"})
    assert query_date(request, "day", default=today) == dt.date(2026, 12, 1)
    assert query_date(rf.get("/"), "day", default=today) == today


def test_query_int_bounds(rf):
    assert query_int(rf.get("/", {"n": "42"}), "n", minimum=1) == 42
    assert query_int(rf.get("/", {"n": str(2**63)}), "n") is None
    assert query_int(rf.get("/", {"n": "0"}), "n", minimum=1, default=7) == 7
