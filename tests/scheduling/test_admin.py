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


# --- Clash checks in admin (issue 29 #5) -------------------------------------------------


def _group_post(group, **changes):
    data = {
        "program": group.program_id,
        "name": group.name,
        "kind": group.kind,
        "description": group.description,
        "curriculum_topics": "[]",
        "facilitators": [f.pk for f in group.facilitators.all()],
        "capacity": group.capacity,
        "admission": group.admission,
        "track": group.track,
        "rrule": group.rrule,
        "start_time": group.start_time.strftime("%H:%M"),
        "duration_minutes": group.duration_minutes,
        "start_date": group.start_date.isoformat(),
        "end_date": "",
        "auto_admit_members": "on",
    }
    data.update(changes)
    return data


def test_admin_refuses_a_facilitator_who_runs_an_overlapping_group(
    client, login, admin, program, clinician
):
    import datetime as dt

    from apps.scheduling.models import Group
    from tests.factories import clinician_in

    other = clinician_in(program, email="second@example.test")
    make_group(program, [clinician], name="Evening Process", start_time=dt.time(18))
    skills = make_group(program, [other], name="Evening Skills", start_time=dt.time(19))
    login(client, admin)
    url = reverse("admin:scheduling_group_change", args=[skills.pk])
    response = client.post(url, _group_post(skills, facilitators=[clinician.pk]))
    assert response.status_code == 200  # the form again, with the error
    assert "already runs a group" in response.content.decode()
    assert list(skills.facilitators.all()) == [other]
    # Adding a new group with the busy facilitator is refused the same way.
    add = reverse("admin:scheduling_group_add")
    response = client.post(
        add, _group_post(skills, name="Evening Art", facilitators=[clinician.pk])
    )
    assert response.status_code == 200
    assert "already runs a group" in response.content.decode()
    assert not Group.objects.filter(name="Evening Art").exists()


def test_admin_refuses_a_session_cover_who_is_busy(client, login, admin, program, clinician):
    import datetime as dt

    from tests.factories import clinician_in

    other = clinician_in(program, email="second@example.test")
    evening = make_group(program, [clinician], name="Evening Process", start_time=dt.time(18))
    make_group(program, [other], name="Evening Skills", start_time=dt.time(19))
    session = Session.objects.filter(group=evening, starts_at__gt=timezone.now()).first()
    login(client, admin)
    url = reverse("admin:scheduling_session_change", args=[session.pk])
    tz = admin.time_zone  # the admin form reads times in the signed-in user's zone
    start, end = session.starts_at.astimezone(tz), session.ends_at.astimezone(tz)
    response = client.post(
        url,
        {
            "group": evening.pk,
            "starts_at_0": start.date().isoformat(),
            "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": end.date().isoformat(),
            "ends_at_1": end.strftime("%H:%M:%S"),
            "facilitator": other.pk,
            "topic": "",
        },
    )
    assert response.status_code == 200
    assert "already runs a group" in response.content.decode()
    session.refresh_from_db()
    assert session.facilitator is None


def test_admin_adds_members_through_the_service_and_refuses_a_clash(
    client, login, admin, program, clinician, patient
):
    import datetime as dt

    from apps.scheduling.models import GroupMembership
    from tests.factories import clinician_in

    other = clinician_in(program, email="second@example.test")
    evening = make_group(program, [clinician], name="Evening Process", start_time=dt.time(18))
    skills = make_group(program, [other], name="Evening Skills", start_time=dt.time(19))
    login(client, admin)
    add = reverse("admin:scheduling_groupmembership_add")
    assert client.get(add).status_code == 200
    response = client.post(
        add,
        {"group": evening.pk, "patient": patient.pk, "from_date": timezone.localdate().isoformat()},
    )
    assert response.status_code == 302
    assert GroupMembership.objects.get(group=evening, patient=patient).status == "active"
    response = client.post(
        add,
        {"group": skills.pk, "patient": patient.pk, "from_date": timezone.localdate().isoformat()},
    )
    assert response.status_code == 200
    assert "already has a group or appointment" in response.content.decode()
    assert not GroupMembership.objects.filter(group=skills).exists()
