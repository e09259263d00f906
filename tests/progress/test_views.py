"""Pages: who may see what (outsider, other clinician, admin, anonymous refused), the
check-in and repeated-measure forms, exports, and audit of every read."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.measures.services import safety_flag_acknowledge, safety_flag_raise
from apps.progress import selectors
from apps.progress.models import DailyCheckIn
from tests.factories import patient_in
from tests.progress.factories import admit, answers_for, checkin, score, valid_post

pytestmark = pytest.mark.django_db

PATIENT_PAGES = ["progress:mine", "progress:checkin"]


@pytest.fixture
def history(patient, program):
    admit(patient, program, days_ago=20)
    score(patient, "phq9", 16, days_ago=20, context="intake")
    score(patient, "phq9", 9, days_ago=6)
    score(patient, "gad7", 12, days_ago=20, context="intake")
    checkin(patient, days_ago=1, note="slept badly, saw my sister")
    checkin(patient, days_ago=3)
    return patient


def _chart_urls(patient_id):
    return [
        reverse("progress:chart", args=[patient_id]),
        reverse("progress:summary", args=[patient_id]),
        reverse("progress:summary_pdf", args=[patient_id]),
    ]


# --- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        reverse("progress:mine"),
        reverse("progress:checkin"),
        reverse("progress:measure", args=["phq9"]),
        reverse("progress:caseload"),
        reverse("progress:outcomes"),
        reverse("progress:outcomes_csv"),
        reverse("progress:chart", args=[1]),
        reverse("progress:summary", args=[1]),
        reverse("progress:summary_pdf", args=[1]),
    ],
)
def test_anonymous_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_outsider_other_clinician_and_admin_cannot_open_the_patients_chart(
    client, login, history, outsider, other_clinician, admin
):
    for user in (outsider, other_clinician, admin):
        login(client, user)
        for url in _chart_urls(history.pk):
            assert client.get(url).status_code == 404, (user, url)
    assert AuditEvent.objects.filter(action="denied", object_type="progress.summary").exists()


def test_patient_cannot_open_the_clinician_chart_even_their_own(client, login, history):
    login(client, history)
    assert client.get(reverse("progress:chart", args=[history.pk])).status_code == 404


def test_patient_cannot_open_another_patients_summary(client, login, history, program):
    other = patient_in(program, email="peer@example.test")
    login(client, other)
    assert client.get(reverse("progress:summary", args=[history.pk])).status_code == 404


def test_staff_get_404_on_patient_pages(client, login, clinician, admin):
    for user in (clinician, admin):
        login(client, user)
        for name in PATIENT_PAGES:
            assert client.get(reverse(name)).status_code == 404
        assert client.get(reverse("progress:measure", args=["phq9"])).status_code == 404


def test_patients_and_admins_have_no_caseload(client, login, patient, outsider, admin):
    for user in (patient, outsider, admin):
        login(client, user)
        assert client.get(reverse("progress:caseload")).status_code == 404


def test_other_programs_clinician_does_not_see_the_patient_in_their_caseload(
    client, login, history, other_clinician
):
    login(client, other_clinician)
    response = client.get(reverse("progress:caseload"))
    assert response.status_code == 200
    assert history.full_name not in response.content.decode()


def test_patients_cannot_see_outcomes(client, login, patient, outsider):
    for user in (patient, outsider):
        login(client, user)
        assert client.get(reverse("progress:outcomes")).status_code == 404
        assert client.get(reverse("progress:outcomes_csv")).status_code == 404


def test_outsider_sees_only_their_own_progress(client, login, history, outsider):
    login(client, outsider)
    response = client.get(reverse("progress:mine"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "16 to 9" not in body
    assert "No PHQ-9 scores yet." in body


# --- patient pages ---------------------------------------------------------------------------
def test_my_progress_shows_summaries_charts_tables_and_is_audited(client, login, history):
    login(client, history)
    response = client.get(reverse("progress:mine"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Your PHQ-9 went from 16 to 9 since admission." in body
    assert 'role="img"' in body and '<title id="phq9-title">' in body
    assert "PHQ-9 scores as a table" in body
    assert "You checked in on 2 of the last 21 days." in body
    assert "No check-in" in body  # missed days listed as missed, not zero
    assert AuditEvent.objects.filter(
        actor=history, patient=history, action="view", object_type="progress.summary"
    ).exists()


def test_checkin_page_posts_and_a_second_post_edits(client, login, patient):
    login(client, patient)
    assert client.get(reverse("progress:checkin")).status_code == 200
    response = client.post(reverse("progress:checkin"), valid_post(mood="4"))
    assert response.status_code == 302 and response.url == reverse("progress:mine")
    page = client.get(reverse("progress:checkin"))
    assert "You already checked in" in page.content.decode()
    client.post(reverse("progress:checkin"), valid_post(mood="7"))
    assert DailyCheckIn.objects.get(patient=patient).mood == 7


def test_checkin_errors_are_shown_and_nothing_is_saved(client, login, patient):
    login(client, patient)
    tomorrow = selectors.local_today(patient) + dt.timedelta(days=1)
    response = client.post(
        reverse("progress:checkin"), valid_post(mood="12", day=tomorrow.isoformat())
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose a number from 0 to 10." in body
    assert "You can&#x27;t check in for a future date." in body
    assert not DailyCheckIn.objects.exists()


def test_malformed_checkin_post_is_a_400_not_a_500(client, login, patient):
    login(client, patient)
    response = client.post(
        reverse("progress:checkin"), {"mood": ["1", "2"], "sleep_hours": "1e999", "day": "x"}
    )
    assert response.status_code == 400
    assert not DailyCheckIn.objects.exists()


def test_low_mood_checkin_flags_and_points_to_help(client, login, patient):
    login(client, patient)
    response = client.post(reverse("progress:checkin"), valid_post(mood="0"), follow=True)
    assert "call or text 988" in response.content.decode()
    assert SafetyFlag.objects.filter(patient=patient, source="checkin_low_mood").exists()


def test_dashboard_shows_the_checkin_panel_and_due_measures(client, login, patient, program):
    admit(patient, program, days_ago=15)
    login(client, patient)
    body = client.get("/").content.decode()
    assert "Daily check-in" in body
    assert reverse("progress:measure", args=["phq9"]) in body
    assert "Fill in your PHQ-9" in body


@pytest.mark.parametrize(("days_ago", "label"), [(14, "due today"), (15, "overdue since")])
def test_a_due_questionnaire_says_whether_it_is_due_today_or_overdue(
    client, login, patient, program, days_ago, label
):
    """A round falls due every 14 days from admission: on the day it says so; from the next
    day on it is overdue (it stays listed until done)."""
    admit(patient, program, days_ago=days_ago)
    login(client, patient)
    body = client.get("/").content.decode()
    assert "Fill in your PHQ-9" in body
    assert label in body
    other = "overdue since" if label == "due today" else "due today"
    assert other not in body


def test_due_phq9_is_taken_with_measures_form_and_saved(client, login, patient, program):
    admit(patient, program, days_ago=15)
    login(client, patient)
    url = reverse("progress:measure", args=["phq9"])
    page = client.get(url)
    assert page.status_code == 200
    assert "Little interest or pleasure in doing things" in page.content.decode()
    post = {f"phq9-{k}": str(v) for k, v in answers_for("phq9", 11).items()}
    response = client.post(url, post)
    assert response.status_code == 302 and response.url == reverse("progress:mine")
    response = MeasureResponse.objects.get(patient=patient)
    assert (response.total, response.context) == (11, "repeat")
    # A double submit of the same round changes nothing and says so.
    again = client.post(url, post)
    assert again.status_code == 302
    assert MeasureResponse.objects.filter(patient=patient).count() == 1
    assert client.get(url).status_code == 404  # no longer due


def test_incomplete_phq9_shows_errors(client, login, patient, program):
    admit(patient, program, days_ago=15)
    login(client, patient)
    response = client.post(reverse("progress:measure", args=["phq9"]), {"phq9-q1": "1"})
    assert response.status_code == 400
    assert "Please answer this question." in response.content.decode()
    assert not MeasureResponse.objects.exists()


def test_phq9_item9_goes_to_the_crisis_page(client, login, patient, program):
    admit(patient, program, days_ago=15)
    login(client, patient)
    post = {f"phq9-{k}": str(v) for k, v in answers_for("phq9", 11, item9=1).items()}
    response = client.post(reverse("progress:measure", args=["phq9"]), post)
    assert response.status_code == 302 and response.url == reverse("crisis")
    assert SafetyFlag.objects.get(patient=patient).source == "phq9_item9"


def test_measure_not_due_or_unknown_is_404(client, login, patient, program):
    admit(patient, program, days_ago=2)
    login(client, patient)
    assert client.get(reverse("progress:measure", args=["phq9"])).status_code == 404
    assert client.get(reverse("progress:measure", args=["nope"])).status_code == 404


# --- clinician pages -------------------------------------------------------------------------
def test_caseload_lists_the_patient_and_is_audited(client, login, history, clinician):
    login(client, clinician)
    response = client.get(reverse("progress:caseload"))
    assert response.status_code == 200
    body = response.content.decode()
    assert history.full_name in body
    assert "from 16 (-7)" in body
    assert AuditEvent.objects.filter(actor=clinician, object_type="progress.caseload").exists()


def test_caseload_bad_filters_are_a_400_not_a_500(client, login, clinician):
    login(client, clinician)
    response = client.get(reverse("progress:caseload"), {"sort": "drop table", "program": "x"})
    assert response.status_code == 400


def test_caseload_page_query_count_does_not_grow(
    client, login, program, clinician, django_assert_num_queries
):
    def add(n, offset):
        for i in range(n):
            p = patient_in(program, email=f"q{offset + i}@example.test")
            score(p, "phq9", 14, days_ago=10, context="intake")
            checkin(p, days_ago=1)

    login(client, clinician)
    add(3, 0)
    client.get(reverse("progress:caseload"))  # warm up session/MFA lookups
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(reverse("progress:caseload"))
    add(27, 100)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(reverse("progress:caseload"))
    assert response.content.decode().count("data-patient=") == 30


def test_patient_chart_shows_items_flags_with_notes_and_timeline(
    client, login, history, clinician, program
):
    flag = safety_flag_raise(
        patient=history, program=program, severity="moderate", source="t", reason="Low mood"
    )
    safety_flag_acknowledge(flag=flag, by=clinician, note="Called; safe; plan reviewed")
    login(client, clinician)
    response = client.get(reverse("progress:chart", args=[history.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "PHQ-9 went from 16 to 9 since admission." in body
    assert "Little interest or pleasure in doing things" in body  # item-level answers
    assert "Called; safe; plan reviewed" in body
    assert "slept badly, saw my sister" in body
    assert "Timeline" in body
    assert AuditEvent.objects.filter(
        actor=clinician, patient=history, action="view", object_type="progress.chart"
    ).exists()


def test_summary_html_and_pdf_are_exported_without_free_text(client, login, history, clinician):
    login(client, clinician)
    html = client.get(reverse("progress:summary", args=[history.pk]))
    assert html.status_code == 200
    body = html.content.decode()
    assert "Progress summary" in body and "16 (Moderately severe)" in body
    assert "slept badly" not in body  # check-in notes are not part of the summary
    pdf = client.get(reverse("progress:summary_pdf", args=[history.pk]))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert history.full_name not in pdf["Content-Disposition"]
    assert AuditEvent.objects.filter(action="export", patient=history).count() == 2


def test_patient_can_export_their_own_summary(client, login, history):
    login(client, history)
    assert client.get(reverse("progress:summary", args=[history.pk])).status_code == 200


def test_outcomes_page_and_csv(client, login, admin, program, history):
    login(client, admin)
    page = client.get(reverse("progress:outcomes"))
    assert page.status_code == 200 and program.name in page.content.decode()
    csv_response = client.get(reverse("progress:outcomes_csv"), {"since": "bad-date"})
    assert csv_response.status_code == 200
    lines = csv_response.content.decode().strip().splitlines()
    assert lines[0].startswith("program,admissions,discharges,completions")
    row = next(line for line in lines if line.startswith(program.name))
    assert row.split(",")[1] == "1"  # one admission
    assert AuditEvent.objects.filter(
        actor=admin, action="export", object_type="progress.outcomes"
    ).exists()


def test_nav_links_for_each_role(client, login, patient, clinician, admin):
    login(client, patient)
    assert reverse("progress:mine") in client.get("/").content.decode()
    login(client, clinician)
    assert reverse("progress:caseload") in client.get("/").content.decode()
    login(client, admin)
    assert reverse("progress:outcomes") in client.get("/").content.decode()


def test_my_progress_query_count_does_not_grow_with_history(
    client, login, patient, program, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admit(patient, program, days_ago=41)
    login(client, patient)
    for days_ago in (40, 30):
        score(patient, "phq9", 15, days_ago=days_ago)
        checkin(patient, days_ago=days_ago)
    client.get(reverse("progress:mine"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("progress:mine"))
    for days_ago in range(1, 28):
        checkin(patient, days_ago=days_ago)
        if days_ago % 7 == 0:
            score(patient, "phq9", 10, days_ago=days_ago)
            score(patient, "gad7", 8, days_ago=days_ago)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("progress:mine"))


def _caseload_of(program, n, *, prefix="pg"):
    return [
        patient_in(program, email=f"{prefix}{i}@example.test", full_name=f"Pat {i:03d}")
        for i in range(n)
    ]


def test_caseload_is_paged_fifty_a_page_with_labelled_navigation(client, login, program, clinician):
    _caseload_of(program, 55)
    login(client, clinician)
    first = client.get(reverse("progress:caseload")).content.decode()
    assert first.count("data-patient=") == 50
    assert "55 patients" in first
    assert 'aria-label="Caseload pages"' in first
    assert "Page 1 of 2" in first and "Next page" in first and "Previous page" not in first
    second = client.get(reverse("progress:caseload"), {"page": 2}).content.decode()
    assert second.count("data-patient=") == 5
    assert "Page 2 of 2" in second and "Previous page" in second


@pytest.mark.parametrize("page", ["abc", "0", "-3", "999", "1.5", ""])
def test_caseload_bad_page_numbers_are_never_a_500(client, login, program, clinician, page):
    _caseload_of(program, 55)
    login(client, clinician)
    response = client.get(reverse("progress:caseload"), {"page": page})
    assert response.status_code == 200
    assert response.content.decode().count("data-patient=") in (50, 5)


def test_caseload_pages_keep_the_filters_and_sort(client, login, program, clinician):
    _caseload_of(program, 55)
    login(client, clinician)
    body = client.get(reverse("progress:caseload"), {"sort": "name", "q": "Pat"}).content.decode()
    assert "?sort=name&amp;q=Pat&amp;page=2" in body
    second = client.get(reverse("progress:caseload"), {"sort": "name", "q": "Pat", "page": 2})
    names = second.content.decode()
    assert "Pat 050" in names and "Pat 054" in names and "Pat 049" not in names


@pytest.mark.parametrize("sort", ["flags", "name", "phq9", "phq9_change", "gad7", "homework"])
def test_caseload_pages_in_the_database_match_the_full_sort(program, clinician, sort):
    patients = _caseload_of(program, 12)
    for i, p in enumerate(patients):
        score(p, "phq9", 5 + i % 4, days_ago=20, context="intake")
        score(p, "phq9", 10 - i % 5, days_ago=2)
    safety_flag_raise(
        patient=patients[7], program=program, severity="urgent", source="t", reason="Urgent"
    )
    safety_flag_raise(
        patient=patients[3], program=program, severity="moderate", source="t", reason="Low"
    )
    full = [r.patient.pk for r in selectors.caseload_rows(user=clinician, sort=sort)]
    paged = []
    for n in (1, 2, 3):
        page = selectors.caseload_page(user=clinician, sort=sort, page=n, per_page=5)
        paged += [r.patient.pk for r in page.object_list]
    assert paged == full


def test_caseload_page_query_count_does_not_grow_past_a_page(
    client, login, program, clinician, django_assert_num_queries
):
    login(client, clinician)
    _caseload_of(program, 3, prefix="a")
    client.get(reverse("progress:caseload"))
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("progress:caseload"))
    _caseload_of(program, 70, prefix="b")
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(reverse("progress:caseload"), {"page": 2})
    assert response.content.decode().count("data-patient=") == 23


def test_control_character_in_a_checkin_note_is_refused(client, login, patient):
    # Issue 24 item 8.
    login(client, patient)
    response = client.post(reverse("progress:checkin"), valid_post(note="slept\x00 badly"))
    assert response.status_code == 400
    assert "control character" in response.content.decode()
    assert not DailyCheckIn.objects.filter(patient=patient).exists()
