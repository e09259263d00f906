from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.casemanagement import services
from apps.casemanagement.models import Need, Referral, ReferralEvent, ReferralStatus, Task

pytestmark = pytest.mark.django_db
S = ReferralStatus


@pytest.fixture
def record(referral, need, patient_task):
    """A referral, a need and a patient task of ``patient``."""
    return {"referral": referral, "need": need, "task": patient_task}


def _staff_urls(patient, record) -> list[tuple[str, str]]:
    """(method, url) of every staff page that reads or writes ``patient``'s record."""
    r, n, t = record["referral"], record["need"], record["task"]
    return [
        ("get", reverse("casemanagement:patient", args=[patient.pk])),
        ("get", reverse("casemanagement:referral", args=[r.pk])),
        ("get", reverse("casemanagement:referral_new", args=[patient.pk])),
        ("post", reverse("casemanagement:referral_new", args=[patient.pk])),
        ("post", reverse("casemanagement:referral_transition", args=[r.pk])),
        ("post", reverse("casemanagement:need_new", args=[patient.pk])),
        ("post", reverse("casemanagement:need_status", args=[n.pk])),
        ("post", reverse("casemanagement:task_new", args=[n.pk])),
        ("post", reverse("casemanagement:task_done", args=[t.pk])),
    ]


POSTS = {
    "referral_new": {"provider_name": "Dr. X", "kind": "legal"},
    "referral_transition": {"to_status": "sent", "expected_status": "proposed", "occurred_on": ""},
}


@pytest.mark.parametrize("who", ["outsider", "other_clinician", "other_case_manager", "admin"])
def test_people_without_access_are_refused_every_page_and_nothing_is_written(
    client, login, request, patient, record, who
):
    login(client, request.getfixturevalue(who))
    counts = (
        Referral.objects.count(),
        ReferralEvent.objects.count(),
        Need.objects.count(),
        Task.objects.count(),
    )
    for method, url in _staff_urls(patient, record):
        data = {"to_status": "sent", "expected_status": "proposed", "occurred_on": str(timezone.localdate()),
                "provider_name": "Dr. X", "kind": "legal", "domain": "legal", "description": "x",
                "title": "x", "assignee": str(patient.pk), "status": "met", "done": "1"}  # fmt: skip
        response = getattr(client, method)(url, data) if method == "post" else client.get(url)
        assert response.status_code == 404, (who, url)
    assert counts == (
        Referral.objects.count(),
        ReferralEvent.objects.count(),
        Need.objects.count(),
        Task.objects.count(),
    )
    assert Task.objects.get(pk=record["task"].pk).done_at is None
    assert AuditEvent.objects.filter(action="denied").exists()


def test_logged_out_visitors_are_sent_to_sign_in(client, patient, record):
    urls = [*_staff_urls(patient, record), ("get", reverse("casemanagement:mine")),
            ("get", reverse("casemanagement:directory")), ("get", reverse("casemanagement:caseload"))]  # fmt: skip
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_patients_are_refused_staff_pages(client, login, patient, record):
    login(client, patient)
    for method, url in _staff_urls(patient, record):
        if url.endswith("/done/"):
            continue  # the patient's own task: allowed (tested below)
        response = getattr(client, method)(url)
        assert response.status_code == 404, url
    for name in ("directory", "caseload"):
        assert client.get(reverse(f"casemanagement:{name}")).status_code == 404


@pytest.mark.parametrize("who", ["clinician", "case_manager"])
def test_program_clinician_and_assigned_case_manager_see_the_record(
    client, login, request, patient, record, who
):
    login(client, request.getfixturevalue(who))
    page = client.get(reverse("casemanagement:patient", args=[patient.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Harbor Light Counseling" in text and "Gather pay stubs" in text
    detail = client.get(reverse("casemanagement:referral", args=[record["referral"].pk]))
    assert detail.status_code == 200 and "Weekly therapy after IOP." in detail.content.decode()
    assert AuditEvent.objects.filter(
        object_type="casemanagement.referral", action="view", patient=patient
    ).exists()
    assert AuditEvent.objects.filter(object_type="casemanagement.record", action="view").exists()


def test_case_manager_records_steps_through_the_page(client, login, case_manager, referral):
    login(client, case_manager)
    url = reverse("casemanagement:referral_transition", args=[referral.pk])
    today = str(timezone.localdate())
    assert (
        client.post(
            url, {"to_status": "sent", "expected_status": "proposed", "occurred_on": today}
        ).status_code
        == 302
    )
    # the same form again (double submit): refused with a clear message, nothing recorded
    again = client.post(
        url, {"to_status": "sent", "expected_status": "proposed", "occurred_on": today}
    )
    assert again.status_code == 409
    assert "already" in again.content.decode()
    assert referral.events.filter(to_status=S.SENT).count() == 1
    # a step off the path
    skip = client.post(
        url, {"to_status": "completed", "expected_status": "sent", "occurred_on": today}
    )
    assert skip.status_code == 409 and "cannot become" in skip.content.decode()
    assert Referral.objects.get(pk=referral.pk).status == S.SENT


@pytest.mark.parametrize(
    "data",
    [
        {"to_status": "accepted", "expected_status": "sent", "occurred_on": "2024-13-45"},
        {"to_status": "accepted", "expected_status": "sent", "occurred_on": "0001-01-01"},
        {"to_status": "accepted", "expected_status": "sent", "occurred_on": "9999-12-31"},
        {"to_status": "accepted", "expected_status": "sent"},
        {"to_status": "nope", "expected_status": "sent", "occurred_on": "today"},
        {"to_status": "accepted", "expected_status": "zzz", "occurred_on": str(dt.date.today())},
        {"to_status": "accepted\x00", "expected_status": "sent", "occurred_on": "2024-01-01"},
    ],
)
def test_malformed_transition_posts_are_a_form_error(client, login, clinician, referral, data):
    services.referral_transition(
        referral_id=referral.pk, by=clinician, to_status="sent", expected_status="proposed"
    )
    login(client, clinician)
    response = client.post(reverse("casemanagement:referral_transition", args=[referral.pk]), data)
    assert response.status_code == 400
    assert Referral.objects.get(pk=referral.pk).status == S.SENT


def test_appointment_made_with_malformed_appointment_is_refused(client, login, clinician, referral):
    for step in ("sent", "accepted"):
        services.referral_transition(referral_id=referral.pk, by=clinician, to_status=step,
                                     expected_status=Referral.objects.get(pk=referral.pk).status)  # fmt: skip
    login(client, clinician)
    url = reverse("casemanagement:referral_transition", args=[referral.pk])
    base = {
        "to_status": "appointment_made",
        "expected_status": "accepted",
        "occurred_on": str(timezone.localdate()),
    }
    for bad in ("", "2025-02-30T10:00", "tomorrow", "99999-01-01T10:00"):
        response = client.post(url, {**base, "appointment_at": bad})
        assert response.status_code == 400, bad
    assert Referral.objects.get(pk=referral.pk).status == S.ACCEPTED
    ok = client.post(
        url,
        {
            **base,
            "appointment_at": (timezone.localdate() + dt.timedelta(3)).strftime("%Y-%m-%dT10:30"),
        },
    )
    assert ok.status_code == 302
    assert Referral.objects.get(pk=referral.pk).status == S.APPOINTMENT_MADE


def test_wrong_and_huge_ids_are_404(client, login, clinician, record):
    login(client, clinician)
    for name in ("patient", "referral"):
        for pk in (999999, 2**63, 10**30):
            assert client.get(reverse(f"casemanagement:{name}", args=[pk])).status_code == 404
    assert client.post(reverse("casemanagement:task_done", args=[10**25])).status_code == 404
    # a need id in place of a referral id of another patient does not leak either
    assert (
        client.get(reverse("casemanagement:referral", args=[record["need"].pk + 1000])).status_code
        == 404
    )


def test_new_referral_form_errors(client, login, clinician, patient, other_resource, therapist):
    login(client, clinician)
    url = reverse("casemanagement:referral_new", args=[patient.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {}).status_code == 400
    assert (
        client.post(url, {"resource": str(other_resource.pk)}).status_code == 400
    )  # other program
    assert client.post(url, {"resource": "abc"}).status_code == 400
    assert client.post(url, {"provider_name": "Dr. Roe"}).status_code == 400  # kind missing
    assert Referral.objects.count() == 0
    response = client.post(url, {"resource": str(therapist.pk), "reason": "Therapy"})
    referral = Referral.objects.get()
    assert response["Location"] == reverse("casemanagement:referral", args=[referral.pk])
    assert referral.kind == "outpatient_therapist" and referral.status == S.PROPOSED


def test_needs_and_tasks_through_the_page(client, login, clinician, patient, case_manager):
    login(client, clinician)
    url = reverse("casemanagement:need_new", args=[patient.pk])
    assert client.post(url, {"domain": "rocket", "description": "x"}).status_code == 400
    assert client.post(url, {"domain": "school", "description": ""}).status_code == 400
    assert client.post(url, {"domain": "school", "description": "Finish GED"}).status_code == 302
    need = Need.objects.get()
    task_url = reverse("casemanagement:task_new", args=[need.pk])
    assert client.post(task_url, {"title": "Call", "assignee": "abc"}).status_code == 400
    assert (
        client.post(
            task_url, {"title": "Call", "assignee": str(patient.pk), "due_date": "2024-02-31"}
        ).status_code
        == 400
    )
    assert client.post(task_url, {"title": "Call", "assignee": "999"}).status_code == 400
    ok = client.post(
        task_url,
        {
            "title": "Sign up",
            "assignee": str(case_manager.pk),
            "due_date": str(timezone.localdate()),
        },
    )
    assert ok.status_code == 302
    assert Task.objects.get().assignee == case_manager
    status_url = reverse("casemanagement:need_status", args=[need.pk])
    assert client.post(status_url, {"status": "bogus"}).status_code == 400
    assert client.post(status_url, {"status": "met"}).status_code == 302
    assert Need.objects.get().status == "met"


def test_patient_page_shows_own_tasks_and_referrals_without_staff_notes(
    client, login, patient, clinician, therapist, patient_task
):
    services.referral_create(patient=patient, by=clinician, resource=therapist,
                             reason="Therapy after IOP", staff_note="STAFF ONLY remark")  # fmt: skip
    login(client, patient)
    text = client.get(reverse("casemanagement:mine")).content.decode()
    assert "Harbor Light Counseling" in text and "Therapy after IOP" in text
    assert "Gather pay stubs" in text
    assert "STAFF ONLY" not in text and "Intake Tue/Thu" not in text  # resource notes are staff's
    assert AuditEvent.objects.filter(object_type="casemanagement.mine", patient=patient).exists()


def test_patient_ticks_their_task_on_the_dashboard(client, login, patient, patient_task):
    login(client, patient)
    home = client.get(reverse("home")).content.decode()
    assert "My tasks" in home and "Gather pay stubs" in home
    response = client.post(
        reverse("casemanagement:task_done", args=[patient_task.pk]), {"done": "1", "next": "/"}
    )
    assert response["Location"] == "/"
    assert Task.objects.get(pk=patient_task.pk).done_by == patient
    # an off-site next is ignored
    response = client.post(
        reverse("casemanagement:task_done", args=[patient_task.pk]),
        {"done": "0", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("casemanagement:mine")


def test_clinician_dashboard_lists_own_open_tasks_overdue_first(client, login, clinician, need):
    today = timezone.localdate()
    later = services.task_create(
        need=need,
        by=clinician,
        title="Later task",
        assignee=clinician,
        due_date=today + dt.timedelta(5),
    )
    overdue = services.task_create(
        need=need,
        by=clinician,
        title="Overdue task",
        assignee=clinician,
        due_date=today + dt.timedelta(1),
    )
    Task.objects.filter(pk=overdue.pk).update(due_date=today - dt.timedelta(2))
    undated = services.task_create(
        need=need, by=clinician, title="Undated task", assignee=clinician
    )
    services.task_done_set(task_id=undated.pk, by=clinician, done=True)
    login(client, clinician)
    home = client.get(reverse("home")).content.decode()
    assert "Case-management tasks" in home
    assert home.index("Overdue task") < home.index("Later task")
    assert "Undated task" not in home and "overdue" in home
    assert later.pk


def test_caseload_lists_only_my_assigned_patients(
    client, login, case_manager, patient, outsider, other_case_manager, record
):
    login(client, case_manager)
    text = client.get(reverse("casemanagement:caseload")).content.decode()
    assert patient.full_name in text and outsider.full_name not in text
    login(client, other_case_manager)
    text = client.get(reverse("casemanagement:caseload")).content.decode()
    assert outsider.full_name in text and patient.full_name not in text


def test_directory_filters_by_kind_and_whole_area(
    client, login, clinician, therapist, housing, other_resource
):
    login(client, clinician)
    url = reverse("casemanagement:directory")
    text = client.get(url).content.decode()
    assert therapist.name in text and housing.name in text and other_resource.name not in text
    text = client.get(url, {"kind": "housing"}).content.decode()
    assert housing.name in text and therapist.name not in text
    text = client.get(url, {"area": "Oakland"}).content.decode()
    assert therapist.name in text and housing.name not in text  # "East Oakland" is not Oakland
    assert client.get(url, {"kind": "spaceship"}).status_code == 400


def test_directory_and_caseload_query_counts_are_pinned(
    client,
    login,
    case_manager,
    clinician,
    patient,
    program,
    therapist,
    housing,
    django_assert_num_queries,
):
    from tests.factories import patient_in

    for n in range(4):
        extra = patient_in(program, email=f"extra{n}@example.test")
        services.case_manager_assign(patient=extra, case_manager=case_manager, by=None)
        need = services.need_create(patient=extra, by=clinician, domain="legal", description="x")
        services.task_create(
            need=need, by=clinician, title="t", assignee=extra, due_date=timezone.localdate()
        )
        services.referral_create(patient=extra, by=clinician, resource=therapist)
    login(client, case_manager)
    client.get(reverse("casemanagement:caseload"))  # warm the session
    # session, user, MFA, the page's own reads (one for the case load, one for tasks / three
    # for the directory: programs, areas, entries), its audit row, the unread badge, and
    # the session's save (savepoint, update, release). Independent of the number of rows.
    with django_assert_num_queries(10):
        assert client.get(reverse("casemanagement:caseload")).status_code == 200
    with django_assert_num_queries(11):
        assert (
            client.get(reverse("casemanagement:directory"), {"kind": "housing"}).status_code == 200
        )


def test_chart_sections_for_staff_and_patient(
    client, login, clinician, patient, referral, patient_task
):
    Referral.objects.filter(pk=referral.pk).update(staff_note="STAFF ONLY remark")
    login(client, clinician)
    chart = client.get(reverse("progress:chart", args=[patient.pk])).content.decode()
    assert 'id="h-casemanagement"' in chart and "Harbor Light Counseling" in chart
    assert "Gather pay stubs" in chart
    login(client, patient)
    mine = client.get(reverse("progress:mine")).content.decode()
    assert 'id="h-casemanagement"' in mine and "Gather pay stubs" in mine
    assert "STAFF ONLY" not in mine


def test_discharge_pages_show_continuing_care_referrals(
    client, login, patient, program, clinician, therapist
):
    from apps.enrollment import services as enrollment_services
    from tests.enrollment.factories import walk_to_admitted

    application = walk_to_admitted(patient, program, clinician)
    referral = services.referral_create(
        patient=patient, by=clinician, resource=therapist, staff_note="STAFF ONLY"
    )
    services.referral_create(patient=patient, by=clinician, provider_name="Food bank", kind="food")
    login(client, clinician)
    page = client.get(reverse("enrollment:discharge", args=[application.pk])).content.decode()
    assert "Continuing-care referrals" in page and "Harbor Light Counseling" in page
    assert "Food bank" not in page
    assert reverse("casemanagement:referral", args=[referral.pk]) in page
    enrollment_services.application_discharge(
        application=application, by=clinician, data={"reason": "completed"}
    )
    login(client, patient)
    summary = client.get(
        reverse("enrollment:discharge_summary", args=[application.pk])
    ).content.decode()
    assert "Harbor Light Counseling" in summary and "STAFF ONLY" not in summary
    assert reverse("casemanagement:referral", args=[referral.pk]) not in summary


def test_needs_and_tasks_show_on_the_treatment_plan(
    client, login, clinician, patient, patient_task
):
    login(client, clinician)
    staff_page = client.get(reverse("enrollment:patient_treatment_plan", args=[patient.pk]))
    assert "Stable housing." in staff_page.content.decode()
    login(client, patient)
    own_page = client.get(reverse("enrollment:treatment_plan")).content.decode()
    assert "Gather pay stubs" in own_page
