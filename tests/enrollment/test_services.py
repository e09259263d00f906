from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.enrollment import selectors, services
from apps.enrollment.models import (
    Application,
    ConsentDocument,
    ConsentKind,
    Discharge,
    SafetyPlan,
    Status,
    Transition,
    TreatmentPlan,
)
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.measures.scoring import AnswersInvalid
from apps.programs.models import ProgramKind
from tests.enrollment.conftest import png_bytes
from tests.enrollment.factories import (
    CSSRS_NONE,
    DETAILS,
    GAD7_ANSWERS,
    PHQ9_CALM,
    PHQ9_FLAGGED,
    application_in,
    consent_documents,
    hold_intake,
    schedule_intake,
    walk_to_admitted,
    walk_to_submitted,
)
from tests.factories import ProgramFactory

pytestmark = pytest.mark.django_db


# --- start and details ---------------------------------------------------------------------
def test_start_sets_the_program_on_the_profile_and_is_idempotent(applicant, program):
    first = services.application_start(patient=applicant, program=program)
    again = services.application_start(patient=applicant, program=program)
    assert first.pk == again.pk
    applicant.patient_profile.refresh_from_db()
    assert applicant.patient_profile.program == program
    assert Application.objects.filter(patient=applicant).count() == 1


def test_start_refuses_a_second_open_application_elsewhere(applicant, program, other_program):
    services.application_start(patient=applicant, program=program)
    with pytest.raises(ValidationError):
        services.application_start(patient=applicant, program=other_program)


def test_start_refuses_inactive_program_and_non_patients(applicant, program, clinician):
    program.is_active = False
    program.save()
    with pytest.raises(ValidationError):
        services.application_start(patient=applicant, program=program)
    with pytest.raises(ValidationError):
        services.application_start(patient=clinician, program=program)


def test_state_not_served_is_refused_with_a_clear_message_and_nothing_changes(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    with pytest.raises(ValidationError) as exc:
        services.application_details_save(
            application=app, by=applicant, data={**DETAILS, "state": "TX"}
        )
    assert "licensed" in exc.value.message_dict["state"][0]
    app.refresh_from_db()
    assert app.details_done_at is None and app.state == ""


def test_details_are_saved(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    services.application_details_save(application=app, by=applicant, data=DETAILS)
    app.refresh_from_db()
    assert app.state == "CA" and app.details_done_at is not None
    assert selectors.application_next_step(application=app) == "screening"


def test_someone_else_cannot_save_details(applicant, program, patient):
    app = services.application_start(patient=applicant, program=program)
    with pytest.raises(PermissionError):
        services.application_details_save(application=app, by=patient, data=DETAILS)


# --- screening -----------------------------------------------------------------------------
def submit_battery(app, patient, phq9=PHQ9_CALM):
    for code, answers in (("phq9", phq9), ("gad7", GAD7_ANSWERS), ("cssrs", CSSRS_NONE)):
        services.application_measure_submit(
            application=app, by=patient, instrument_code=code, answers=answers
        )


def test_completing_the_battery_moves_to_screened(applicant, program):
    consent_documents()
    app = services.application_start(patient=applicant, program=program)
    services.application_details_save(application=app, by=applicant, data=DETAILS)
    submit_battery(app, applicant)
    app.refresh_from_db()
    assert app.status == Status.SCREENED
    assert selectors.application_next_step(application=app) == "consents"


def test_resubmitting_a_questionnaire_is_idempotent(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    first = services.application_measure_submit(
        application=app, by=applicant, instrument_code="phq9", answers=PHQ9_CALM
    )
    second = services.application_measure_submit(
        application=app, by=applicant, instrument_code="phq9", answers=PHQ9_FLAGGED
    )
    assert first.pk == second.pk
    assert MeasureResponse.objects.filter(patient=applicant).count() == 1
    assert not SafetyFlag.objects.exists()


def test_incomplete_answers_store_nothing(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    with pytest.raises(AnswersInvalid):
        services.application_measure_submit(
            application=app, by=applicant, instrument_code="phq9", answers={"q1": 1}
        )
    assert not MeasureResponse.objects.exists()


def test_substance_use_instruments_only_in_substance_use_programs(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    with pytest.raises(AnswersInvalid):
        services.application_measure_submit(
            application=app, by=applicant, instrument_code="auditc", answers={}
        )
    su = ProgramFactory(slug="su", kind=ProgramKind.SUBSTANCE_USE)
    codes = [i.code for i in selectors.screening_battery(application=Application(program=su))]
    assert codes == ["phq9", "gad7", "cssrs", "auditc", "dast10"]


def test_flagged_phq9_raises_an_open_flag_for_the_program_and_does_not_block(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    services.application_details_save(application=app, by=applicant, data=DETAILS)
    submit_battery(app, applicant, phq9=PHQ9_FLAGGED)
    flag = SafetyFlag.objects.get(patient=applicant)
    assert flag.program == program and flag.severity == "high" and flag.is_open
    app.refresh_from_db()
    assert app.status == Status.SCREENED


def test_cssrs_high_raises_an_urgent_flag(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    services.application_measure_submit(
        application=app,
        by=applicant,
        instrument_code="cssrs",
        answers={"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 0, "q6": 0},
    )
    assert SafetyFlag.objects.get(patient=applicant).severity == "urgent"


# --- consents ------------------------------------------------------------------------------
def test_consent_stores_exact_version_name_time_ip_and_agent(applicant, program):
    doc = consent_documents()[0]
    application_in(applicant, program)
    sig = services.consent_sign(
        patient=applicant,
        document=doc,
        typed_name="  andy   APPLICANT ",
        ip="203.0.113.9",
        user_agent="Firefox",
    )
    assert sig.document_id == doc.pk and sig.typed_name == "andy APPLICANT"
    assert sig.ip == "203.0.113.9" and sig.user_agent == "Firefox" and sig.signed_at
    again = services.consent_sign(
        patient=applicant, document=doc, typed_name="Andy Applicant", ip=None, user_agent=""
    )
    assert again.pk == sig.pk


def test_consent_with_the_wrong_name_is_refused(applicant):
    doc = consent_documents()[0]
    with pytest.raises(ValidationError):
        services.consent_sign(
            patient=applicant, document=doc, typed_name="Someone Else", ip=None, user_agent=""
        )


def test_a_new_version_asks_current_patients_to_sign_again(patient, program, clinician):
    walk_to_admitted(patient, program, clinician)
    assert selectors.consents_outstanding(patient=patient, program=program) == []
    new = ConsentDocument.objects.create(
        kind=ConsentKind.TELEHEALTH, version=2, title="Telehealth v2", body="New text."
    )
    assert selectors.consents_outstanding(patient=patient, program=program) == [new]


def test_part2_consent_only_for_substance_use_programs(program):
    consent_documents()
    kinds = {d.kind for d in selectors.consents_required(program=program)}
    assert ConsentKind.PART2 not in kinds
    su = ProgramFactory(slug="su2", kind=ProgramKind.SUBSTANCE_USE)
    assert ConsentKind.PART2 in {d.kind for d in selectors.consents_required(program=su)}


# --- insurance -----------------------------------------------------------------------------
def test_insurance_requires_payer_unless_self_pay(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    with pytest.raises(ValidationError) as exc:
        services.insurance_save(application=app, by=applicant, data={"self_pay": False})
    assert set(exc.value.message_dict) == {"payer", "member_id"}
    services.insurance_save(application=app, by=applicant, data={"self_pay": True})
    app.refresh_from_db()
    assert app.insurance_done_at is not None


def test_card_images_are_checked_by_content_and_stored_privately(applicant, program, private_media):
    app = services.application_start(patient=applicant, program=program)
    fake = SimpleUploadedFile("card.png", b"not an image at all", content_type="image/png")
    with pytest.raises(ValidationError) as exc:
        services.insurance_save(
            application=app,
            by=applicant,
            data={"payer": "Acme", "member_id": "X1"},
            card_front=fake,
        )
    assert "card_front" in exc.value.message_dict
    good = SimpleUploadedFile("card.PNG", png_bytes(), content_type="application/octet-stream")
    insurance = services.insurance_save(
        application=app, by=applicant, data={"payer": "Acme", "member_id": "X1"}, card_front=good
    )
    assert insurance.card_front_type == "image/png"
    stored = private_media / insurance.card_front.name
    assert stored.exists() and "Andy" not in insurance.card_front.name


def test_card_images_over_10_mb_are_refused(applicant, program):
    services.application_start(patient=applicant, program=program)
    big = SimpleUploadedFile("big.png", png_bytes() + b"0" * (10 * 1024 * 1024), "image/png")
    with pytest.raises(ValidationError):
        services.card_image_check(big)


# --- submit and the state machine ----------------------------------------------------------
def test_submit_refuses_when_steps_are_missing(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    with pytest.raises(ValidationError):
        services.application_submit(
            application=app,
            by=applicant,
            preferred_times=[timezone.now() + dt.timedelta(days=1)],
        )
    app.refresh_from_db()
    assert app.status == Status.STARTED


def test_submit_refuses_past_times(applicant, program):
    app = services.application_start(patient=applicant, program=program)
    with pytest.raises(ValidationError):
        services.application_submit(
            application=app, by=applicant, preferred_times=[timezone.now() - dt.timedelta(hours=1)]
        )


def test_walk_to_submitted_then_resubmit_changes_nothing(applicant, program):
    app = walk_to_submitted(applicant, program)
    assert app.status == Status.SUBMITTED and app.submitted_at
    count = Transition.objects.filter(application=app).count()
    services.application_submit(
        application=app, by=applicant, preferred_times=[timezone.now() + dt.timedelta(days=3)]
    )
    assert Transition.objects.filter(application=app).count() == count


def test_illegal_transition_is_refused_audited_and_changes_nothing(applicant, program, clinician):
    app = walk_to_submitted(applicant, program)
    with pytest.raises(services.TransitionRefused):
        services.application_admit(
            application=app,
            by=clinician,
            start_date=timezone.localdate(),
            primary_clinician=clinician,
        )
    app.refresh_from_db()
    assert app.status == Status.SUBMITTED and app.start_date is None
    denied = AuditEvent.objects.filter(action="denied", object_id=str(app.pk)).get()
    assert denied.detail == "refused: submitted -> admitted"
    applicant.patient_profile.refresh_from_db()
    assert applicant.patient_profile.primary_clinician is None


def test_admit_sets_program_and_primary_clinician(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    assert app.status == Status.ADMITTED and app.decided_by == clinician
    applicant.patient_profile.refresh_from_db()
    assert applicant.patient_profile.program == program
    assert applicant.patient_profile.primary_clinician == clinician
    assert [t.to_status for t in app.transitions.all()] == [
        "started",
        "screened",
        "submitted",
        "intake_scheduled",
        "admitted",
    ]


def test_a_failing_side_effect_rolls_the_whole_transition_back(
    applicant, program, clinician, monkeypatch
):
    app = walk_to_submitted(applicant, program)
    hold_intake(schedule_intake(app, clinician))

    def broken_join(**kwargs):
        raise RuntimeError("scheduling is down")

    monkeypatch.setattr(services.scheduling_services, "membership_add", broken_join)
    with pytest.raises(RuntimeError):
        services.application_admit(
            application=app,
            by=clinician,
            start_date=timezone.localdate(),
            primary_clinician=clinician,
            groups=["group"],
        )
    app.refresh_from_db()
    assert app.status == Status.INTAKE_SCHEDULED and app.start_date is None
    assert not app.transitions.filter(to_status="admitted").exists()
    applicant.patient_profile.refresh_from_db()
    assert applicant.patient_profile.primary_clinician is None


def test_other_programs_clinician_cannot_decide(applicant, program, other_clinician):
    app = walk_to_submitted(applicant, program)
    with pytest.raises(PermissionError):
        services.application_schedule_intake(
            application=app, by=other_clinician, intake_at=timezone.now()
        )


def test_primary_clinician_must_work_in_the_program(applicant, program, clinician, other_clinician):
    app = walk_to_submitted(applicant, program)
    hold_intake(schedule_intake(app, clinician))
    with pytest.raises(ValidationError):
        services.application_admit(
            application=app,
            by=clinician,
            start_date=timezone.localdate(),
            primary_clinician=other_clinician,
        )


def test_waitlist_then_refer_with_reason(applicant, program, clinician):
    app = schedule_intake(walk_to_submitted(applicant, program), clinician)
    with pytest.raises(ValidationError):
        services.application_waitlist(application=app, by=clinician, position=0, expected=None)
    services.application_waitlist(application=app, by=clinician, position=2, expected=None)
    with pytest.raises(ValidationError):
        services.application_refer(application=app, by=clinician, reason="  ")
    app = services.application_refer(application=app, by=clinician, reason="Needs PHP")
    assert app.status == Status.REFERRED and not app.is_open


def test_patient_can_withdraw_before_admission_but_not_after(applicant, program, clinician):
    app = walk_to_submitted(applicant, program)
    services.application_withdraw(application=app, by=applicant)
    app.refresh_from_db()
    assert app.status == Status.WITHDRAWN


# --- discharge -----------------------------------------------------------------------------
def test_discharge_records_plan_and_measures(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    discharge = services.application_discharge(
        application=app,
        by=clinician,
        data={"reason": "completed", "follow_up_provider": "Dr. Lee"},
        phq9={f"q{n}": 0 for n in range(1, 10)},
        gad7={f"q{n}": 0 for n in range(1, 8)},
    )
    assert discharge.reason == "completed"
    app.refresh_from_db()
    assert app.status == Status.DISCHARGED
    assert MeasureResponse.objects.filter(patient=applicant, context="discharge").count() == 2


def test_discharge_with_bad_measure_answers_changes_nothing(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    with pytest.raises(AnswersInvalid):
        services.application_discharge(
            application=app, by=clinician, data={"reason": "completed"}, phq9={"q1": 9}
        )
    app.refresh_from_db()
    assert app.status == Status.ADMITTED
    assert not Discharge.objects.exists()


def test_discharge_needs_a_reason(applicant, program, clinician):
    app = walk_to_admitted(applicant, program, clinician)
    with pytest.raises(ValidationError):
        services.application_discharge(application=app, by=clinician, data={"reason": "bored"})


def test_cannot_discharge_before_admission(applicant, program, clinician):
    app = walk_to_submitted(applicant, program)
    with pytest.raises(services.TransitionRefused):
        services.application_discharge(application=app, by=clinician, data={"reason": "withdrew"})


# --- plans ---------------------------------------------------------------------------------
GOALS = [
    {
        "goal": "Sleep better",
        "objective": "6h sleep 5 nights/week",
        "target_date": dt.date(2030, 1, 1),
    }
]


def test_treatment_plan_versions_and_patient_signature(patient, program, clinician):
    kwargs = {
        "patient": patient,
        "program": program,
        "by": clinician,
        "problems": "Low mood",
        "interventions": "CBT group",
        "review_date": dt.date(2030, 1, 1),
        "goals": GOALS,
    }
    v1 = services.treatment_plan_save(**kwargs)
    v2 = services.treatment_plan_save(**{**kwargs, "problems": "Low mood, sleep"})
    assert (v1.version, v2.version) == (1, 2)
    with pytest.raises(ValidationError):
        services.treatment_plan_sign(plan=v1, patient=patient, typed_name=patient.full_name)
    with pytest.raises(ValidationError):
        services.treatment_plan_sign(plan=v2, patient=patient, typed_name="Wrong Name")
    signed = services.treatment_plan_sign(plan=v2, patient=patient, typed_name=patient.full_name)
    assert signed.patient_signed_at and TreatmentPlan.objects.count() == 2


def test_treatment_plan_needs_a_goal_and_a_clinician(patient, program, clinician):
    with pytest.raises(ValidationError):
        services.treatment_plan_save(
            patient=patient, program=program, by=clinician, problems="x",
            interventions="y", review_date=dt.date(2030, 1, 1), goals=[],
        )  # fmt: skip
    with pytest.raises(PermissionError):
        services.treatment_plan_save(
            patient=patient, program=program, by=patient, problems="x",
            interventions="y", review_date=dt.date(2030, 1, 1), goals=GOALS,
        )  # fmt: skip


def test_safety_plan_versions_by_patient_and_clinician(patient, clinician):
    v1 = services.safety_plan_save(
        patient=patient, by=patient, data={"warning_signs": "Not sleeping"}
    )
    same = services.safety_plan_save(
        patient=patient, by=clinician, data={"warning_signs": "Not sleeping"}
    )
    assert same.pk == v1.pk
    v2 = services.safety_plan_save(
        patient=patient,
        by=clinician,
        data={"warning_signs": "Not sleeping", "reason_for_living": "My dog"},
    )
    assert v2.version == 2 and v2.created_by == clinician
    assert SafetyPlan.objects.filter(patient=patient).count() == 2
    with pytest.raises(ValidationError):
        services.safety_plan_save(patient=patient, by=patient, data={})
