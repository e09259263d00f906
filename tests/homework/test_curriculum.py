"""Homework follows the group's curriculum: the session topic's module is suggested when
assigning, and members who join later get the group's open assignments, once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.homework import services
from apps.homework.models import Assignment, AssignmentStatus
from apps.scheduling import services as scheduling
from apps.scheduling.admin import GroupAdminForm
from apps.scheduling.models import Group, MembershipStatus, SeatOffer
from tests.factories import patient_in
from tests.homework.factories import assign, make_group, make_session

pytestmark = pytest.mark.django_db

CURRICULUM = [
    {"title": "Urges and cravings", "module": "urge-surfing"},  # make_session's topic
    {"title": "High-risk situations", "module": "triggers-map"},
    "Lapse vs relapse",
]


@pytest.fixture
def group(program, patient, clinician, modules):
    group = make_group(program, members=[patient])
    group.facilitators.add(clinician)
    Group.objects.filter(pk=group.pk).update(curriculum_topics=CURRICULUM)
    group.refresh_from_db()
    return group


@pytest.fixture
def session(group):
    return make_session(group, days_ago=1)


def _selected_module(response):
    return response.context["form"].initial.get("module")


# --- The suggestion ----------------------------------------------------------------------


def test_group_assign_from_a_session_preselects_its_topics_module(
    client, login, clinician, group, session, modules
):
    login(client, clinician)
    url = reverse("homework:review_group", args=[group.pk]) + f"?session={session.pk}"
    response = client.get(url)
    assert response.status_code == 200
    assert _selected_module(response) == modules["urge-surfing"]
    assert response.context["form"].initial["session"] == session
    html = response.content.decode()
    assert f'<option value="{modules["urge-surfing"].pk}" selected>' in html
    assert "Suggested for this session" in html


def test_member_assign_from_a_session_preselects_and_ties_to_the_session(
    client, login, clinician, patient, group, session, modules
):
    login(client, clinician)
    url = reverse("homework:review_patient", args=[patient.pk]) + f"?session={session.pk}"
    assert _selected_module(client.get(url)) == modules["urge-surfing"]
    response = client.post(
        url, {"module": modules["urge-surfing"].pk, "session": session.pk, "note": ""}
    )
    assert response.status_code == 302
    assignment = Assignment.objects.get(patient=patient)
    assert assignment.session == session and assignment.group is None


def test_no_suggestion_for_a_topic_without_module_or_an_edited_topic(
    client, login, clinician, group, session
):
    login(client, clinician)
    url = reverse("homework:review_group", args=[group.pk]) + f"?session={session.pk}"
    scheduling.session_update(session=session, by=clinician, topic="Lapse vs relapse")
    assert _selected_module(client.get(url)) is None
    scheduling.session_update(session=session, by=clinician, topic="High-risk situations")
    assert _selected_module(client.get(url)).slug == "triggers-map"


def test_session_page_shows_topic_and_suggestion(client, login, clinician, session):
    login(client, clinician)
    response = client.get(reverse("scheduling:session_detail", args=[session.pk]))
    html = response.content.decode()
    assert "Topic: Urges and cravings" in html
    assert "Homework after this session" in html and "Urge surfing" in html
    assert f"?session={session.pk}" in html


def test_other_programs_clinician_gets_no_session_or_suggestion(
    client, login, other_clinician, patient, group, session
):
    login(client, other_clinician)
    assert client.get(reverse("scheduling:session_detail", args=[session.pk])).status_code == 404
    url = reverse("homework:review_group", args=[group.pk]) + f"?session={session.pk}"
    assert client.get(url).status_code == 404
    url = reverse("homework:review_patient", args=[patient.pk]) + f"?session={session.pk}"
    assert client.get(url).status_code == 404


def test_session_from_another_group_is_ignored(
    client, login, clinician, program, patient, group, modules
):
    other = make_group(program, name="Other group")
    Group.objects.filter(pk=other.pk).update(curriculum_topics=CURRICULUM)
    foreign = make_session(other, days_ago=2)
    login(client, clinician)
    url = reverse("homework:review_group", args=[group.pk]) + f"?session={foreign.pk}"
    assert _selected_module(client.get(url)) is None
    # The patient is not in that group either: no session tie, no suggestion.
    url = reverse("homework:review_patient", args=[patient.pk]) + f"?session={foreign.pk}"
    response = client.get(url)
    assert _selected_module(response) is None and "session" not in response.context["form"].fields
    url = reverse("homework:review_group", args=[group.pk]) + "?session=notanumber"
    assert client.get(url).status_code == 200


def test_admin_refuses_a_topic_naming_no_module(group, modules):
    data = {"curriculum_topics": '[{"title": "X", "module": "no-such-module"}]'}
    form = GroupAdminForm(data=data, instance=group)
    form.is_valid()
    assert "curriculum_topics" in form.errors
    form = GroupAdminForm(
        data={"curriculum_topics": '[{"title": "X", "module": "urge-surfing"}, "Y"]'},
        instance=group,
    )
    form.is_valid()
    assert "curriculum_topics" not in form.errors
    assert form.cleaned_data["curriculum_topics"] == [
        {"title": "X", "module": "urge-surfing"},
        {"title": "Y", "module": ""},
    ]


# --- Late joiners -------------------------------------------------------------------------


@pytest.fixture
def newcomer(program):
    return patient_in(program, email="newcomer@example.test", full_name="Nia Newcomer")


def _group_assign(clinician, group, module, **kwargs):
    return services.assignment_create_for_group(
        clinician=clinician, group=group, module=module, **kwargs
    )


@pytest.fixture
def group_homework(clinician, patient, group, session, modules):
    """Four group assignments: two open, one past due, one closed (everyone done)."""
    today = timezone.localdate()
    _group_assign(
        clinician,
        group,
        modules["urge-surfing"],
        due_date=today + dt.timedelta(days=3),
        note="Practise twice.",
        session=session,
    )
    _group_assign(clinician, group, modules["triggers-map"])  # undated, still being worked on
    _group_assign(clinician, group, modules["paced-breathing"], due_date=today)
    Assignment.objects.filter(module=modules["paced-breathing"]).update(
        due_date=today - dt.timedelta(days=1)  # past due now
    )
    _group_assign(clinician, group, modules["name-the-emotion"])
    Assignment.objects.filter(module=modules["name-the-emotion"]).update(
        status=AssignmentStatus.REVIEWED  # every member has finished: closed
    )
    return {"urge-surfing", "triggers-map"}


def _slugs(patient):
    return sorted(Assignment.objects.filter(patient=patient).values_list("module__slug", flat=True))


def test_late_joiner_gets_exactly_the_open_group_assignments(
    clinician, group, newcomer, group_homework, session
):
    scheduling.membership_add(group=group, patient=newcomer, by=clinician)
    assert _slugs(newcomer) == sorted(group_homework)
    urge = Assignment.objects.get(patient=newcomer, module__slug="urge-surfing")
    assert urge.group == group and urge.session == session and urge.note == "Practise twice."
    assert urge.assigned_by == clinician and urge.status == AssignmentStatus.ASSIGNED
    assert urge.due_date == timezone.localdate() + dt.timedelta(days=3)


def test_rejoining_gives_nothing_twice(clinician, group, newcomer, group_homework):
    membership = scheduling.membership_add(group=group, patient=newcomer, by=clinician)
    Assignment.objects.filter(patient=newcomer, module__slug="triggers-map").update(
        status=AssignmentStatus.SUBMITTED
    )
    scheduling.membership_end(membership=membership, by=clinician)
    scheduling.membership_add(group=group, patient=newcomer, by=clinician)
    assert _slugs(newcomer) == sorted(group_homework)  # no second copy, even of a submitted one


def test_late_joiners_open_copy_of_a_module_is_kept(
    clinician, group, newcomer, group_homework, modules
):
    own = assign(clinician, newcomer, modules["urge-surfing"], note="Mine")
    scheduling.membership_add(group=group, patient=newcomer, by=clinician)
    assert _slugs(newcomer) == sorted(group_homework)
    own.refresh_from_db()
    assert own.note == "Mine" and own.group is None


def test_waitlisted_patient_gets_nothing_until_seated(
    clinician, patient, group, newcomer, group_homework
):
    Group.objects.filter(pk=group.pk).update(capacity=1)
    group.refresh_from_db()
    scheduling.membership_add(group=group, patient=newcomer, by=clinician, waitlist_if_full=True)
    assert _slugs(newcomer) == []
    seat = group.memberships.get(patient=patient, status=MembershipStatus.ACTIVE)
    # A freed seat is offered to the head of the waitlist; staff confirm, the patient accepts.
    scheduling.membership_end(membership=seat, by=clinician)
    offer = SeatOffer.objects.get(group=group, patient=newcomer)
    assert _slugs(newcomer) == []
    scheduling.seat_offer_confirm(offer=offer, by=clinician)
    scheduling.seat_offer_accept(offer=offer, by=newcomer)
    assert group.memberships.filter(patient=newcomer, status=MembershipStatus.ACTIVE).exists()
    assert _slugs(newcomer) == sorted(group_homework)


def test_outsider_cannot_open_a_late_joiners_assignment(
    client, login, clinician, group, newcomer, outsider, other_clinician, group_homework
):
    scheduling.membership_add(group=group, patient=newcomer, by=clinician)
    given = Assignment.objects.filter(patient=newcomer).first()
    login(client, outsider)
    assert client.get(reverse("homework:work", args=[given.pk])).status_code == 404
    login(client, other_clinician)
    url = reverse("homework:review_assignment", args=[given.pk])
    assert client.get(url).status_code == 404
