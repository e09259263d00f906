"""Pages: access rules for every view, autosave over HTTP, bad input, pinned query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.homework import services
from apps.homework.models import Assignment, AssignmentStatus, Feedback, Response
from tests.factories import patient_in
from tests.homework.factories import assign, complete_urge_surfing, make_group, make_session

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def assignment(modules, clinician, patient):
    return assign(clinician, patient, modules["urge-surfing"])


@pytest.fixture
def submitted(assignment, patient):
    complete_urge_surfing(assignment, patient)
    services.assignment_submit(assignment=assignment, user=patient)
    assignment.refresh_from_db()
    return assignment


@pytest.fixture
def group(program, patient):
    return make_group(program, members=[patient])


def _patient_urls(a):
    return [
        ("get", reverse("homework:work", args=[a.pk]), {}),
        ("post", reverse("homework:step_save", args=[a.pk, "check"]), {"choice": "passes"}),
        ("post", reverse("homework:entry_add", args=[a.pk, "surf-log"]), {}),
        (
            "post",
            reverse(
                "homework:entry_delete",
                args=[a.pk, "surf-log", "6f1c3a52-94a7-4a55-9a6e-3d6b2f0c7a10"],
            ),
            {},
        ),
        ("post", reverse("homework:submit", args=[a.pk]), {}),
    ]


def _reviewer_urls(a, patient, group):
    return [
        ("get", reverse("homework:review"), {}),
        ("get", reverse("homework:review_patient", args=[patient.pk]), {}),
        ("post", reverse("homework:review_patient", args=[patient.pk]), {}),
        ("get", reverse("homework:review_group", args=[group.pk]), {}),
        ("post", reverse("homework:review_group", args=[group.pk]), {}),
        ("get", reverse("homework:review_assignment", args=[a.pk]), {}),
        ("post", reverse("homework:review_feedback", args=[a.pk]), {"body": "x"}),
        ("post", reverse("homework:review_reopen", args=[a.pk]), {}),
    ]


def test_anonymous_is_sent_to_login_everywhere(client, assignment, patient, group):
    urls = [*_patient_urls(assignment), *_reviewer_urls(assignment, patient, group)]
    urls.append(("get", reverse("homework:index"), {}))
    for method, url, data in urls:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert "/accounts/login/" in response["Location"]
    assert not Response.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "clinician", "other_clinician", "admin"])
def test_only_the_patient_opens_or_changes_their_homework(request, client, login, assignment, who):
    login(client, request.getfixturevalue(who))
    for method, url, data in _patient_urls(assignment):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (who, url)
    assert not Response.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.ASSIGNED


@pytest.mark.parametrize("who", ["outsider", "patient", "other_clinician", "admin"])
def test_only_clinicians_of_the_program_review(
    request, client, login, submitted, patient, group, who
):
    login(client, request.getfixturevalue(who))
    for method, url, data in _reviewer_urls(submitted, patient, group):
        if who == "other_clinician" and url == reverse("homework:review"):
            continue  # their own overview; that it shows none of our patients is tested below
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (who, url)
    assert not Feedback.objects.exists()
    submitted.refresh_from_db()
    assert submitted.status == AssignmentStatus.SUBMITTED


def test_other_clinician_sees_no_patients_of_other_programs(
    client, login, other_clinician, other_program, submitted
):
    # A clinician of another program has a review page, but it lists none of our patients.
    login(client, other_clinician)
    response = client.get(reverse("homework:review"))
    assert response.status_code == 200
    assert "Pat Member" not in response.content.decode()


def test_patient_autosaves_a_step(client, login, patient, assignment):
    login(client, patient)
    url = reverse("homework:step_save", args=[assignment.pk, "check"])
    response = client.post(url, {"choice": "passes", "seq": "5"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-state="saved"' in body
    assert "1 of 4 steps done" in body  # progress swapped out of band
    assert "Right." in body  # per-answer quiz feedback
    assert Response.objects.get().value == {"choices": ["passes"]}
    assert AuditEvent.objects.filter(actor=patient, action="update").exists()


def test_plain_form_post_saves_and_redirects_back_to_the_step(client, login, patient, assignment):
    login(client, patient)
    url = reverse("homework:step_save", args=[assignment.pk, "reflection"])
    response = client.post(url, {"text": "It eased off."})
    assert response.status_code == 302
    assert response["Location"].endswith("#step-reflection")
    assert Response.objects.get().value == {"text": "It eased off."}


def test_out_of_range_answer_is_refused_with_message_and_nothing_changes(
    client, login, patient, modules, clinician
):
    a = assign(clinician, patient, modules["check-the-facts"])
    login(client, patient)
    url = reverse("homework:step_save", args=[a.pk, "before"])
    client.post(url, {"value": "6"}, **HTMX)
    response = client.post(url, {"value": "42"}, **HTMX)
    assert response.status_code == 422
    assert "between 0 and 10" in response.content.decode()
    assert Response.objects.get().value == {"value": 6}


def test_unknown_step_is_404_not_500(client, login, patient, assignment):
    login(client, patient)
    response = client.post(
        reverse("homework:step_save", args=[assignment.pk, "no-such-step"]), {"x": "1"}, **HTMX
    )
    assert response.status_code == 404
    assert "not part of this homework" in response.content.decode()


def test_log_entry_to_a_non_log_step_is_404(client, login, patient, assignment):
    login(client, patient)
    response = client.post(reverse("homework:entry_add", args=[assignment.pk, "check"]), {})
    assert response.status_code == 404


def test_bad_log_entry_keeps_what_was_typed(client, login, patient, assignment):
    login(client, patient)
    url = reverse("homework:entry_add", args=[assignment.pk, "surf-log"])
    data = {
        "entry_id": "1d1b0f3e-8b3c-4a7e-9f3a-2b7f3c9d4e10",
        "date": timezone.localdate().isoformat(),
        "f-trigger": "A party invitation",
        "f-craving_before": "15",
        "f-minutes": "10",
        "f-craving_after": "3",
    }
    response = client.post(url, data, **HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "between 0 and 10" in body
    assert 'value="A party invitation"' in body
    assert 'value="1d1b0f3e-8b3c-4a7e-9f3a-2b7f3c9d4e10"' in body
    assert not Response.objects.exists()
    data["f-craving_before"] = "8"
    for _ in range(2):  # a double submit of the corrected form stores one entry
        assert client.post(url, data, **HTMX).status_code == 200
    assert len(Response.objects.get().value["entries"]) == 1


def test_answers_to_a_submitted_assignment_are_refused(client, login, patient, submitted):
    login(client, patient)
    before = list(Response.objects.order_by("pk").values_list("value", flat=True))
    response = client.post(
        reverse("homework:step_save", args=[submitted.pk, "reflection"]),
        {"text": "sneaky edit"},
        **HTMX,
    )
    assert response.status_code == 409
    assert "locked" in response.content.decode()
    assert list(Response.objects.order_by("pk").values_list("value", flat=True)) == before


def test_malformed_seq_is_ignored_not_an_error(client, login, patient, assignment):
    login(client, patient)
    url = reverse("homework:step_save", args=[assignment.pk, "reflection"])
    response = client.post(url, {"text": "ok", "seq": "not-a-number"}, **HTMX)
    assert response.status_code == 200
    assert Response.objects.get().value == {"text": "ok"}


def test_submit_incomplete_shows_what_is_missing(client, login, patient, assignment):
    login(client, patient)
    response = client.post(reverse("homework:submit", args=[assignment.pk]), follow=True)
    assert "Please finish these steps first" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.ASSIGNED


def test_work_page_renders_every_step_kind(client, login, patient, modules, clinician):
    login(client, patient)
    for slug in ("paced-breathing", "check-the-facts", "warning-signs-plan"):
        a = assign(clinician, patient, modules[slug])
        response = client.get(reverse("homework:work", args=[a.pk]))
        assert response.status_code == 200
    body = response.content.decode()
    assert 'name="f-warning_signs"' in body and 'type="checkbox"' in body


def test_submitted_log_shows_chart_with_text_alternative(client, login, clinician, submitted):
    login(client, clinician)
    response = client.get(reverse("homework:review_assignment", args=[submitted.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and 'role="img"' in body
    assert "<desc" in body and "average 7.0" in body
    assert "<table" in body  # the table alternative
    assert AuditEvent.objects.filter(
        actor=clinician, action="view", object_type="homework.assignment"
    ).exists()


def test_clinician_leaves_feedback_and_reopens(client, login, clinician, patient, submitted):
    login(client, clinician)
    url = reverse("homework:review_feedback", args=[submitted.pk])
    response = client.post(url, {"body": "Nice work on the log."})
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.status == AssignmentStatus.REVIEWED
    response = client.post(reverse("homework:review_reopen", args=[submitted.pk]))
    submitted.refresh_from_db()
    assert submitted.status == AssignmentStatus.IN_PROGRESS
    client.force_login(patient)
    page = client.get(reverse("homework:work", args=[submitted.pk])).content.decode()
    assert "Nice work on the log." in page


def test_empty_feedback_is_refused(client, login, clinician, submitted):
    login(client, clinician)
    response = client.post(reverse("homework:review_feedback", args=[submitted.pk]), {"body": " "})
    assert response.status_code == 422
    assert not Feedback.objects.exists()


def test_clinician_assigns_to_a_patient(client, login, clinician, patient, modules):
    login(client, clinician)
    url = reverse("homework:review_patient", args=[patient.pk])
    due = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = client.post(url, {"module": modules["triggers-map"].pk, "due_date": due})
    assert response.status_code == 302
    assert Assignment.objects.get(patient=patient).due_date.isoformat() == due


@pytest.mark.parametrize(
    "data,error",
    [
        ({"module": "999999"}, "Select a valid choice"),
        ({"module": "abc"}, "Select a valid choice"),
        ({}, "required"),
        ({"module": "MODULE", "due_date": "2001-01-01"}, "in the past"),
        ({"module": "MODULE", "due_date": "not a date"}, "valid date"),
    ],
)
def test_bad_assign_form_is_refused(client, login, clinician, patient, modules, data, error):
    login(client, clinician)
    data = {k: (modules["triggers-map"].pk if v == "MODULE" else v) for k, v in data.items()}
    response = client.post(reverse("homework:review_patient", args=[patient.pk]), data)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not Assignment.objects.exists()


def _last_local(weekday: int, at: dt.time, zone) -> dt.datetime:
    """The latest ``weekday`` (0 = Monday) at ``at`` in ``zone`` from 1 to 7 days ago."""
    today = timezone.now().astimezone(zone).date()
    day = today - dt.timedelta(days=(today.weekday() - weekday) % 7 or 7)
    return dt.datetime.combine(day, at, tzinfo=zone)


# Local moments in the program's (and patient's) zone, America/Los_Angeles; the first two
# are already Monday in UTC.
@pytest.mark.parametrize(
    ("weekday", "at", "name"),
    [
        pytest.param(6, dt.time(23, 30), "Sunday", id="sun-23:30-local"),
        pytest.param(6, dt.time(17, 0), "Sunday", id="just-after-utc-midnight"),
        pytest.param(0, dt.time(0, 30), "Monday", id="mon-00:30-local"),
        pytest.param(2, dt.time(18, 0), "Wednesday", id="wed-evening-group"),
    ],
)
def test_clinician_assigns_to_a_group_after_a_session(
    client, login, clinician, patient, group, modules, weekday, at, name
):
    session = make_session(group, starts_at=_last_local(weekday, at, group.program.time_zone))
    login(client, clinician)
    response = client.post(
        reverse("homework:review_group", args=[group.pk]),
        {"module": modules["urge-surfing"].pk, "session": session.pk},
    )
    assert response.status_code == 302
    a = Assignment.objects.get(patient=patient)
    assert a.group == group and a.session == session
    client.force_login(patient)
    listing = client.get(reverse("homework:index")).content.decode()
    # Shown in the patient's zone, whatever the UTC weekday of the session.
    assert f"after {name}&#x27;s group" in listing or f"after {name}'s group" in listing


def test_session_of_another_group_is_refused(
    client, login, clinician, program, patient, group, modules
):
    other_session = make_session(make_group(program, name="Other group"))
    login(client, clinician)
    response = client.post(
        reverse("homework:review_group", args=[group.pk]),
        {"module": modules["urge-surfing"].pk, "session": other_session.pk},
    )
    assert response.status_code == 422
    assert not Assignment.objects.exists()


def test_patient_starts_a_module_on_their_own(client, login, patient, modules):
    login(client, patient)
    url = reverse("homework:module_start", args=[modules["stress-diary"].pk])
    first = client.post(url)
    second = client.post(url)
    assert first["Location"] == second["Location"]
    assert Assignment.objects.get().assigned_by is None


def test_clinician_cannot_self_start(client, login, clinician, modules):
    login(client, clinician)
    response = client.post(reverse("homework:module_start", args=[modules["stress-diary"].pk]))
    assert response.status_code == 404


def test_dashboards_show_homework_panels(client, login, clinician, patient, submitted):
    login(client, patient)
    assert "homework/panels/patient.html" in [t.name for t in client.get("/").templates if t.name]
    login(client, clinician)
    body = client.get("/").content.decode()
    assert "Homework to review" in body and "Urge surfing" in body


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _own_queries(client, url) -> list[str]:
    """The page's queries on homework, scheduling and audit tables (base.html's own queries
    belong to other apps and may change with them)."""
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    tables = ("homework_", "scheduling_", "audit_")
    return [q["sql"] for q in ctx.captured_queries if any(t in q["sql"] for t in tables)]


def test_patient_homework_list_query_count_is_pinned(
    client, login, patient, clinician, modules, django_assert_num_queries
):
    login(client, patient)
    slugs = list(modules)
    assign(clinician, patient, modules[slugs[0]])
    url = reverse("homework:index")
    few = _queries(client, url)
    for slug in slugs[1:6]:
        a = assign(clinician, patient, modules[slug], due_date=timezone.localdate())
        services.response_save(
            assignment=a, user=patient, step_id=a.module_version.spec.steps[0].id, data={}
        )  # type: ignore[arg-type]
    with django_assert_num_queries(few):
        client.get(url)
    # Ours: the assignments with progress (one query), the audit row, the module catalogue.
    assert len(_own_queries(client, url)) == 3


def test_group_homework_view_query_count_is_pinned(
    client, login, program, clinician, patient, modules, django_assert_num_queries
):
    group = make_group(program, members=[patient])
    services.assignment_create_for_group(
        clinician=clinician, group=group, module=modules["urge-surfing"]
    )
    login(client, clinician)
    url = reverse("homework:review_group", args=[group.pk])
    few = _queries(client, url)
    for n in range(5):
        member = patient_in(program, email=f"m{n}@example.test")
        group.memberships.create(patient=member, from_date=group.start_date)
    for slug in ("triggers-map", "warning-signs-plan"):
        services.assignment_create_for_group(clinician=clinician, group=group, module=modules[slug])
    with django_assert_num_queries(few):
        body = client.get(url).content.decode()
    assert body.count('class="badge hw-status') == 1 * 3 + 5 * 2  # new members lack the first
    # Ours: group, members, assignments with progress, module and session choices, audit row.
    assert len(_own_queries(client, url)) == 6


# Issue 24 item 8: a NUL was a 500 on PostgreSQL; every C0 control but tab/LF/CR is refused.
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b"])
def test_control_character_in_an_autosaved_answer_is_refused(
    client, login, patient, assignment, char
):
    login(client, patient)
    url = reverse("homework:step_save", args=[assignment.pk, "reflection"])
    response = client.post(url, {"text": f"It eased{char} off.", "seq": "3"}, **HTMX)
    assert response.status_code == 400
    assert "control character" in response.content.decode()
    response = client.post(url, {"text": f"It eased{char} off."})  # the plain form
    assert response.status_code == 400
    assert "control character" in response.content.decode()
    assert not Response.objects.exists()
    assert client.post(url, {"text": "Tab\tand\r\nnewline", "seq": "4"}, **HTMX).status_code == 200


def test_control_character_in_a_practice_log_entry_is_refused(client, login, patient, assignment):
    login(client, patient)
    response = client.post(
        reverse("homework:entry_add", args=[assignment.pk, "surf-log"]),
        {
            "entry_id": "1d1b0f3e-8b3c-4a7e-9f3a-2b7f3c9d4e10",
            "date": timezone.localdate().isoformat(),
            "f-trigger": "A party\x00 invitation",
            "f-craving_before": "8",
            "f-minutes": "10",
            "f-craving_after": "3",
        },
        **HTMX,
    )
    assert response.status_code == 400
    assert not Response.objects.exists()


def test_control_character_in_a_submit_is_refused(client, login, patient, assignment):
    complete_urge_surfing(assignment, patient)
    login(client, patient)
    response = client.post(reverse("homework:submit", args=[assignment.pk]), {"note": "\x00"})
    assert response.status_code == 400
    assignment.refresh_from_db()
    assert assignment.status != AssignmentStatus.SUBMITTED
