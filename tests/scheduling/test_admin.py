"""Admin: every model's list renders; "cancel a day" cancels the program's sessions that day
with a reason patients see."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from apps.scheduling import services
from apps.scheduling.models import Session, SessionStatus
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups(program, clinician, patient):
    a = make_group(
        program,
        [clinician],
        days=range(7),
        name="A",
        start_time=timezone.datetime(2000, 1, 1, 9).time(),
    )
    b = make_group(program, [clinician], days=range(7), name="B")
    services.membership_add(group=a, patient=patient, by=clinician)
    return a, b


@pytest.mark.parametrize(
    "model",
    [
        "group",
        "session",
        "groupmembership",
        "appointment",
        "attendance",
        "clinicianavailability",
        "availabilityexception",
        "calendarfeed",
    ],
)
def test_admin_lists_render(client, login, admin, groups, model):
    login(client, admin)
    assert client.get(reverse(f"admin:scheduling_{model}_changelist")).status_code == 200


def test_admin_group_change_page_renders(client, login, admin, groups):
    login(client, admin)
    assert (
        client.get(reverse("admin:scheduling_group_change", args=[groups[0].pk])).status_code == 200
    )


def test_cancel_a_day_action(client, login, admin, groups):
    login(client, admin)
    a, b = groups
    first = Session.objects.filter(group=a, starts_at__gt=timezone.now()).order_by("starts_at")[1]
    day = first.occurrence_date
    url = reverse("admin:scheduling_session_changelist")
    confirm = client.post(url, {"action": "cancel_day", ACTION_CHECKBOX_NAME: [first.pk]})
    assert confirm.status_code == 200
    assert "Reason patients will see" in confirm.content.decode()
    assert not Session.objects.filter(status="cancelled").exists()
    # An empty reason is refused and changes nothing.
    client.post(
        url, {"action": "cancel_day", ACTION_CHECKBOX_NAME: [first.pk], "apply": "1", "reason": ""}
    )
    assert not Session.objects.filter(status="cancelled").exists()
    client.post(
        url,
        {
            "action": "cancel_day",
            ACTION_CHECKBOX_NAME: [first.pk],
            "apply": "1",
            "reason": "Thanksgiving",
        },
    )
    cancelled = Session.objects.filter(status=SessionStatus.CANCELLED)
    assert set(cancelled.values_list("group__name", flat=True)) == {"A", "B"}
    assert set(cancelled.values_list("occurrence_date", flat=True)) == {day}
    assert set(cancelled.values_list("cancel_reason", flat=True)) == {"Thanksgiving"}


def test_clinician_cannot_reach_admin(client, login, clinician):
    login(client, clinician)
    response = client.get(reverse("admin:scheduling_session_changelist"))
    assert response.status_code in (302, 403)
