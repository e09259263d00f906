from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.enrollment import services
from apps.enrollment.models import (
    Application,
    ConsentDocument,
    ConsentKind,
    SafetyPlan,
    Status,
    TreatmentPlan,
)
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.programs.models import ProgramKind
from tests.enrollment.conftest import png_bytes
from tests.enrollment.factories import (
    CSSRS_NONE,
    DETAILS,
    GAD7_ANSWERS,
    PHQ9_FLAGGED,
    application_in,
    consent_documents,
    hold_intake,
    open_all_week,
    schedule_intake,
    walk_to_submitted,
)
from tests.factories import ProgramFactory, patient_in

pytestmark = pytest.mark.django_db


def form_answers(code, answers):
    return {f"{code}-{k}": str(v) for k, v in answers.items()}


def details_post():
    data = dict(DETAILS)
    data["date_of_birth"] = "1990-05-17"
    return data


def test_the_whole_application_flow(client, login, applicant, program, clinician):
    consent_documents()
    login(client, applicant)
    response = client.post(reverse("enrollment:apply_start"), {"program": program.pk})
    app = Application.objects.get(patient=applicant)
    assert response["Location"] == reverse("enrollment:apply_details", args=[app.pk])
    response = client.post(reverse("enrollment:apply_details", args=[app.pk]), details_post())
    assert response["Location"] == reverse("enrollment:apply_screening", args=[app.pk])
    # leaving and coming back resumes at the next step
    response = client.get(reverse("enrollment:apply_resume", args=[app.pk]))
    assert response["Location"] == reverse("enrollment:apply_screening", args=[app.pk])
    url = reverse("enrollment:apply_measure", args=[app.pk, "phq9"])
    assert client.get(url).status_code == 200
    response = client.post(url, form_answers("phq9", PHQ9_FLAGGED))
    assert response["Location"] == reverse("enrollment:apply_support", args=[app.pk])
    support = client.get(response["Location"]).content.decode()
    assert "988" in support and "911" in support and program.clinic_phone in support
    assert SafetyFlag.objects.filter(patient=applicant, acknowledged_at=None).count() == 1
    for code, answers in (("gad7", GAD7_ANSWERS), ("cssrs", CSSRS_NONE)):
        response = client.post(
            reverse("enrollment:apply_measure", args=[app.pk, code]), form_answers(code, answers)
        )
        assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == Status.SCREENED
    # consents: each one in turn
    response = client.get(reverse("enrollment:apply_resume", args=[app.pk]))
    while "/consents/" in response["Location"]:
        sign_url = response["Location"]
        assert client.get(sign_url).status_code == 200
        response = client.post(
            sign_url,
            {"agree": "on", "typed_name": "Andy Applicant"},
            HTTP_USER_AGENT="TestBrowser/1.0",
            REMOTE_ADDR="198.51.100.7",
        )
    assert applicant.consent_signatures.count() == 3
    sig = applicant.consent_signatures.first()
    assert sig.user_agent == "TestBrowser/1.0" and sig.ip == "198.51.100.7"
    assert response["Location"] == reverse("enrollment:apply_insurance", args=[app.pk])
    response = client.post(response["Location"], {"self_pay": "on"})
    assert response["Location"] == reverse("enrollment:apply_intake", args=[app.pk])
    when = (timezone.localtime() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(response["Location"], {"preferred_1": when})
    assert response["Location"] == reverse("enrollment:my_application")
    app.refresh_from_db()
    assert app.status == Status.SUBMITTED
    # a duplicate submit changes nothing
    client.post(reverse("enrollment:apply_intake", args=[app.pk]), {"preferred_1": when})
    assert app.transitions.filter(to_status="submitted").count() == 1
    page = client.get(reverse("enrollment:my_application")).content.decode()
    assert "Submitted, waiting for intake" in page


def test_incomplete_questionnaire_shows_field_errors_and_stores_nothing(
    client, login, applicant, program
):
    app = application_in(applicant, program)
    login(client, applicant)
    response = client.post(
        reverse("enrollment:apply_measure", args=[app.pk, "phq9"]),
        {"phq9-q1": "1", "phq9-q2": "7"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Please answer this question." in body and "Select a valid choice" in body
    assert not MeasureResponse.objects.exists()


def test_unknown_or_wrong_program_instrument_is_404(client, login, applicant, program):
    app = application_in(applicant, program)
    login(client, applicant)
    for code in ("nope", "auditc"):
        url = reverse("enrollment:apply_measure", args=[app.pk, code])
        assert client.get(url).status_code == 404


def test_substance_use_program_asks_auditc_dast_and_part2(client, login, applicant):
    su = ProgramFactory(slug="su-view", kind=ProgramKind.SUBSTANCE_USE)
    consent_documents()
    app = application_in(applicant, su)
    login(client, applicant)
    url = reverse("enrollment:apply_measure", args=[app.pk, "dast10"])
    assert client.get(url).status_code == 200
    part2 = ConsentDocument.objects.get(kind=ConsentKind.PART2)
    page = client.get(reverse("enrollment:consent_sign", args=[part2.pk])).content.decode()
    assert "42 CFR part 2 prohibits unauthorized use or disclosure" in page


def test_state_not_served_gets_a_clear_message(client, login, applicant, program):
    app = application_in(applicant, program)
    login(client, applicant)
    response = client.post(
        reverse("enrollment:apply_details", args=[app.pk]), {**details_post(), "state": "TX"}
    )
    assert response.status_code == 400
    assert "licensed to provide telehealth only in: CA, OR, WA" in response.content.decode()


def test_wrong_typed_name_is_refused(client, login, applicant, program):
    doc = consent_documents()[0]
    application_in(applicant, program)
    login(client, applicant)
    response = client.post(
        reverse("enrollment:consent_sign", args=[doc.pk]), {"agree": "on", "typed_name": "Nope"}
    )
    assert response.status_code == 400
    assert not applicant.consent_signatures.exists()


def test_clinician_cannot_sign_consents(client, login, clinician):
    doc = consent_documents()[0]
    response = login(client, clinician).post(
        reverse("enrollment:consent_sign", args=[doc.pk]),
        {"agree": "on", "typed_name": clinician.full_name},
    )
    assert response.status_code == 404


def test_upload_of_a_non_image_is_refused(client, login, applicant, program, private_media):
    app = application_in(applicant, program)
    login(client, applicant)
    response = client.post(
        reverse("enrollment:apply_insurance", args=[app.pk]),
        {
            "payer": "Acme",
            "member_id": "1",
            "card_front": SimpleUploadedFile("x.png", b"%PDF-1.4 not a png", "image/png"),
        },
    )
    assert response.status_code == 400
    assert "JPEG, PNG or WebP" in response.content.decode()
    assert not list(private_media.rglob("*.png"))


def test_card_image_is_served_only_through_the_checked_view(client, login, world, clinician):
    url = reverse("enrollment:insurance_card", args=[world.application.pk, "front"])
    response = login(client, clinician).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png_bytes()
    assert response["Cache-Control"] == "private, no-store"
    bad = reverse("enrollment:insurance_card", args=[world.application.pk, "side"])
    assert client.get(bad).status_code == 404


def test_signed_consent_download_names_version_and_signature(client, login, world, patient):
    response = login(client, patient).get(
        reverse("enrollment:signature_detail", args=[world.signature.pk]) + "?download=1"
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    text = response.content.decode()
    assert "version 1" in text and "Pat Member" in text
    assert AuditEvent.objects.filter(action="export", object_id=str(world.signature.pk)).exists()


# --- clinician ---------------------------------------------------------------------------
def test_queue_lists_flagged_first_and_filters(client, login, program, clinician):
    calm = patient_in(None, email="calm@example.test", full_name="Calm Carter")
    flagged = patient_in(None, email="flag@example.test", full_name="Flagged Fox")
    walk_to_submitted(calm, program)
    walk_to_submitted(flagged, program, phq9=PHQ9_FLAGGED)
    login(client, clinician)
    body = client.get(reverse("enrollment:queue")).content.decode()
    assert body.index("Flagged Fox") < body.index("Calm Carter")
    body = client.get(reverse("enrollment:queue"), {"q": "carter"}).content.decode()
    assert "Calm Carter" in body and "Flagged Fox" not in body
    body = client.get(reverse("enrollment:queue"), {"flagged": "1"}).content.decode()
    assert "Flagged Fox" in body and "Calm Carter" not in body
    response = client.get(reverse("enrollment:queue"), {"status": "decided", "program": "abc"})
    assert response.status_code == 200 and "Flagged Fox" not in response.content.decode()


def test_queue_query_count_does_not_grow(
    client, login, program, clinician, django_assert_num_queries
):
    login(client, clinician)
    for n in range(2):
        application_in(patient_in(None, email=f"a{n}@example.test"), program, status="submitted")
    client.get(reverse("enrollment:queue"))  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("enrollment:queue"))
    for n in range(2, 7):
        application_in(patient_in(None, email=f"a{n}@example.test"), program, status="submitted")
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("enrollment:queue"))
    assert response.content.decode().count("Person Number") == 7


def test_decisions_schedule_then_admit(client, login, applicant, program, clinician):
    app = walk_to_submitted(applicant, program)
    open_all_week(clinician)
    login(client, clinician)
    when = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("enrollment:application_decide", args=[app.pk, "schedule"]),
        {"intake_at": when, "clinician": clinician.pk},
    )
    assert response.status_code == 302
    hold_intake(app)
    response = client.post(
        reverse("enrollment:application_decide", args=[app.pk, "admit"]),
        {"start_date": timezone.localdate().isoformat(), "primary_clinician": clinician.pk},
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == Status.ADMITTED
    applicant.patient_profile.refresh_from_db()
    assert applicant.patient_profile.primary_clinician == clinician


def test_illegal_decision_is_refused_with_409_and_audited(
    client, login, applicant, program, clinician
):
    app = walk_to_submitted(applicant, program)
    login(client, clinician)
    response = client.post(
        reverse("enrollment:application_decide", args=[app.pk, "admit"]),
        {"start_date": timezone.localdate().isoformat(), "primary_clinician": clinician.pk},
    )
    assert response.status_code == 409
    app.refresh_from_db()
    assert app.status == Status.SUBMITTED
    assert AuditEvent.objects.filter(action="denied", object_id=str(app.pk)).exists()


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("refer", {"reason": ""}),
        ("waitlist", {"position": "0"}),
        ("schedule", {"intake_at": "soon"}),
        ("admit", {"start_date": "x", "primary_clinician": "999999"}),
    ],
)
def test_malformed_decisions_get_400_and_change_nothing(
    client, login, applicant, program, clinician, action, data
):
    app = walk_to_submitted(applicant, program)
    login(client, clinician)
    url = reverse("enrollment:application_decide", args=[app.pk, action])
    assert client.post(url, data).status_code == 400
    app.refresh_from_db()
    assert app.status == Status.SUBMITTED


def test_unknown_decision_is_404(client, login, applicant, program, clinician):
    app = walk_to_submitted(applicant, program)
    url = reverse("enrollment:application_decide", args=[app.pk, "explode"])
    assert login(client, clinician).post(url).status_code == 404


def test_referred_patient_sees_a_kind_message(client, login, applicant, program, clinician):
    app = schedule_intake(walk_to_submitted(applicant, program), clinician)
    services.application_refer(application=app, by=clinician, reason="Needs a higher level")
    body = login(client, applicant).get(reverse("enrollment:my_application")).content.decode()
    assert "another level of care will serve you better" in body
    assert "Needs a higher level" not in body
    assert "988" in body


def test_detail_shows_scores_bands_and_flags(client, login, applicant, program, clinician):
    app = walk_to_submitted(applicant, program, phq9=PHQ9_FLAGGED)
    url = reverse("enrollment:application_detail", args=[app.pk])
    body = login(client, clinician).get(url).content.decode()
    assert "PHQ-9" in body and "Moderately severe" in body and "Open safety flag" in body


# --- plans and discharge -------------------------------------------------------------------
def test_clinician_writes_a_new_plan_version_and_patient_signs(
    client, login, world, patient, clinician
):
    login(client, clinician)
    url = reverse("enrollment:patient_treatment_plan", args=[patient.pk])
    data = {
        "problems": "Revised problems",
        "interventions": "DBT skills",
        "review_date": "2030-02-01",
        "goals-TOTAL_FORMS": "3",
        "goals-INITIAL_FORMS": "0",
        "goals-MIN_NUM_FORMS": "0",
        "goals-MAX_NUM_FORMS": "10",
        "goals-0-goal": "Return to work",
        "goals-0-objective": "Work 3 half days a week",
        "goals-0-target_date": "2030-01-15",
    }
    assert client.post(url, data).status_code == 302
    plan = TreatmentPlan.objects.filter(patient=patient).first()
    assert plan.version == 2 and plan.goals.get().goal == "Return to work"
    client.logout()
    login(client, patient)
    assert "Return to work" in client.get(reverse("enrollment:treatment_plan")).content.decode()
    response = client.post(
        reverse("enrollment:treatment_plan"), {"plan": plan.pk, "typed_name": "Pat Member"}
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.patient_signed_at is not None


def test_patient_cannot_sign_with_a_bogus_plan_id(client, login, world, patient):
    response = login(client, patient).post(
        reverse("enrollment:treatment_plan"), {"plan": "abc", "typed_name": "Pat Member"}
    )
    assert response.status_code == 400


def test_goal_without_objective_is_refused(client, login, world, patient, clinician):
    login(client, clinician)
    response = client.post(
        reverse("enrollment:patient_treatment_plan", args=[patient.pk]),
        {
            "problems": "p",
            "interventions": "i",
            "review_date": "2030-02-01",
            "goals-TOTAL_FORMS": "3",
            "goals-INITIAL_FORMS": "0",
            "goals-0-goal": "Vague",
        },
    )
    assert response.status_code == 400
    assert TreatmentPlan.objects.filter(patient=patient).count() == 1


def test_patient_edits_safety_plan_and_crisis_page_shows_it(client, login, world, patient):
    login(client, patient)
    response = client.post(
        reverse("enrollment:safety_plan"),
        {
            "warning_signs": "Can't sleep",
            "help_contacts": "Sam 555-0101",
            "reason_for_living": "Kids",
        },
    )
    assert response["Location"] == reverse("crisis")
    page = client.get(reverse("crisis")).content.decode()
    assert "Kids" in page and "Sam 555-0101" in page and "988" in page and "911" in page
    assert SafetyPlan.objects.filter(patient=patient).count() == 2


def test_clinician_edits_the_safety_plan(client, login, world, patient, clinician):
    login(client, clinician)
    url = reverse("enrollment:patient_safety_plan", args=[patient.pk])
    assert client.post(url, {"environment": "Meds with partner"}).status_code == 302
    assert SafetyPlan.objects.filter(patient=patient).first().created_by == clinician
    assert client.post(url, {}).status_code == 400


def test_discharge_view_records_measures_and_shows_summary(client, login, world, clinician):
    login(client, clinician)
    url = reverse("enrollment:discharge", args=[world.application.pk])
    assert client.get(url).status_code == 200
    data = {"reason": "completed", "follow_up_provider": "Dr. Lee"}
    data |= form_answers("phq9", {f"q{n}": 0 for n in range(1, 10)})
    data |= form_answers("gad7", {f"q{n}": 0 for n in range(1, 8)})
    response = client.post(url, data)
    summary_url = reverse("enrollment:discharge_summary", args=[world.application.pk])
    assert response["Location"] == summary_url
    summary = client.get(summary_url).content.decode()
    assert "Dr. Lee" in summary and "response (≥50% drop)" in summary and "remission" in summary


def test_discharge_with_half_answered_phq9_is_refused(client, login, world, clinician):
    login(client, clinician)
    url = reverse("enrollment:discharge", args=[world.application.pk])
    response = client.post(url, {"reason": "completed", "phq9-q1": "2"})
    assert response.status_code == 400
    world.application.refresh_from_db()
    assert world.application.status == Status.ADMITTED


def test_every_read_of_an_application_is_audited(client, login, world, clinician):
    url = reverse("enrollment:application_detail", args=[world.application.pk])
    before = AuditEvent.objects.filter(action="view", object_id=str(world.application.pk)).count()
    login(client, clinician).get(url)
    after = AuditEvent.objects.filter(action="view", object_id=str(world.application.pk)).count()
    assert after == before + 1


def test_a_new_consent_version_asks_the_admitted_patient_to_sign_again(
    client, login, world, patient
):
    new = ConsentDocument.objects.create(
        kind=ConsentKind.GROUP, version=2, title="Group agreement v2", body="Updated text."
    )
    login(client, patient)
    dashboard = client.get(reverse("home")).content.decode()
    assert "Review and sign updated consents" in dashboard
    url = reverse("enrollment:consent_sign", args=[new.pk])
    response = client.post(url, {"agree": "on", "typed_name": "Pat Member"})
    assert response["Location"] == reverse("enrollment:consents")
    assert patient.consent_signatures.filter(document=new).exists()
    assert "Review and sign updated consents" not in client.get(reverse("home")).content.decode()


def test_clinician_sees_preferred_times_in_their_zone(client, login, applicant, program, clinician):
    app = walk_to_submitted(applicant, program)
    body = (
        login(client, clinician)
        .get(reverse("enrollment:application_detail", args=[app.pk]))
        .content.decode()
    )
    assert "Preferred times:" in body and "+00:00" not in body


def test_substance_use_records_carry_the_part2_notice(client, login, applicant, clinician):
    from apps.programs.models import ProgramStaff

    su = ProgramFactory(slug="su-notice", kind=ProgramKind.SUBSTANCE_USE)
    ProgramStaff.objects.create(program=su, user=clinician)
    app = walk_to_submitted(applicant, su)
    assert {r.instrument for r in MeasureResponse.objects.filter(patient=applicant)} == {
        "phq9", "gad7", "cssrs", "auditc", "dast10"
    }  # fmt: skip
    body = (
        login(client, clinician)
        .get(reverse("enrollment:application_detail", args=[app.pk]))
        .content.decode()
    )
    assert "42 CFR part 2 prohibits unauthorized use or disclosure" in body
    assert "AUDIT-C" in body and "DAST-10" in body


def test_an_adult_program_applicant_cannot_sign_the_part2_consent(
    client, login, applicant, program
):
    """Consents apply only to the programs that ask for them (42 CFR Part 2: substance use)."""
    from apps.enrollment.models import ConsentSignature

    assert not program.is_substance_use
    consent_documents()
    application_in(applicant, program)
    part2 = ConsentDocument.objects.get(kind=ConsentKind.PART2)
    login(client, applicant)
    url = reverse("enrollment:consent_sign", args=[part2.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"typed_name": applicant.full_name}).status_code == 404
    assert not ConsentSignature.objects.filter(patient=applicant).exists()


def test_the_consent_service_refuses_a_document_the_program_does_not_ask_for(applicant, program):
    from django.core.exceptions import ValidationError

    from apps.enrollment import services

    consent_documents()
    application_in(applicant, program)
    part2 = ConsentDocument.objects.get(kind=ConsentKind.PART2)
    with pytest.raises(ValidationError):
        services.consent_sign(
            patient=applicant,
            document=part2,
            typed_name=applicant.full_name,
            ip=None,
            user_agent="",
        )


@pytest.mark.parametrize("field", ["phone", "emergency_phone"])
def test_application_refuses_a_phone_that_is_not_a_phone(client, login, applicant, program, field):
    app = application_in(applicant, program)
    login(client, applicant)
    response = client.post(
        reverse("enrollment:apply_details", args=[app.pk]), {**details_post(), field: "abc"}
    )
    assert response.status_code == 400
    app.refresh_from_db()
    assert app.details_done_at is None and getattr(app, field) == ""


def test_application_stores_a_phone_the_way_the_profile_does(client, login, applicant, program):
    app = application_in(applicant, program)
    login(client, applicant)
    client.post(
        reverse("enrollment:apply_details", args=[app.pk]),
        {**details_post(), "phone": "415.555.0199"},
    )
    app.refresh_from_db()
    assert app.phone == "+14155550199"


def test_control_character_in_the_safety_plan_is_refused(client, login, world, patient):
    # Issue 24 item 8: nothing stored, a clear 400 page.
    login(client, patient)
    before = SafetyPlan.objects.filter(patient=patient).count()
    response = client.post(
        reverse("enrollment:safety_plan"),
        {"warning_signs": "Can't\x00 sleep", "help_contacts": "Sam", "reason_for_living": "Kids"},
    )
    assert response.status_code == 400
    assert "control character" in response.content.decode()
    assert SafetyPlan.objects.filter(patient=patient).count() == before


def test_control_character_in_an_application_is_refused(client, login, applicant, program):
    login(client, applicant)
    client.post(reverse("enrollment:apply_start"), {"program": program.pk})
    app = Application.objects.get(patient=applicant)
    data = {**details_post(), "reason": "Things\x0b are hard."}
    response = client.post(reverse("enrollment:apply_details", args=[app.pk]), data)
    assert response.status_code == 400
    app.refresh_from_db()
    assert app.reason != data["reason"]
