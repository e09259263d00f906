"""Check-ins (one per local day, validation, safety rules) and repeated measures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.measures.models import MeasureContext, MeasureResponse, SafetyFlag
from apps.measures.scoring import AnswersInvalid
from apps.programs.models import ProgramKind
from apps.progress import extensions, selectors, services
from apps.progress.models import DailyCheckIn, MeasureSchedule
from tests.factories import patient_in
from tests.progress.factories import admit, answers_for, discharge, score, valid_post

pytestmark = pytest.mark.django_db


# --- check-ins -------------------------------------------------------------------------------
def test_first_checkin_of_the_day_is_created_and_audited(patient):
    checkin, created, flags = services.checkin_save(patient=patient, data=valid_post())
    assert created is True
    assert flags == []
    assert checkin.day == selectors.local_today(patient)
    assert checkin.mood == 6 and checkin.sleep_hours == Decimal("7.5")
    assert AuditEvent.objects.filter(
        actor=patient, patient=patient, action="create", object_type="progress.dailycheckin"
    ).exists()


def test_second_checkin_the_same_day_edits_the_first(patient):
    first, _c, _f = services.checkin_save(patient=patient, data=valid_post(mood="3"))
    second, created, _f = services.checkin_save(patient=patient, data=valid_post(mood="8"))
    assert created is False
    assert second.pk == first.pk
    assert DailyCheckIn.objects.filter(patient=patient).count() == 1
    first.refresh_from_db()
    assert first.mood == 8


def test_the_patients_time_zone_decides_today():
    # 05:00 UTC on 2 January is still 1 January in Honolulu, already 2 January in Tokyo.
    now = dt.datetime(2026, 1, 2, 5, 0, tzinfo=dt.UTC)
    honolulu = patient_in(None, time_zone="Pacific/Honolulu")
    tokyo = patient_in(None, time_zone="Asia/Tokyo")
    assert selectors.local_today(honolulu, now) == dt.date(2026, 1, 1)
    assert selectors.local_today(tokyo, now) == dt.date(2026, 1, 2)
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=honolulu, data=valid_post(day="2026-01-02"), now=now)
    assert "future" in str(exc.value.message_dict["day"])
    checkin, _c, _f = services.checkin_save(
        patient=tokyo, data=valid_post(day="2026-01-02"), now=now
    )
    assert checkin.day == dt.date(2026, 1, 2)


def test_future_day_is_refused_and_nothing_is_written(patient):
    tomorrow = selectors.local_today(patient) + dt.timedelta(days=1)
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=patient, data=valid_post(day=tomorrow.isoformat()))
    assert exc.value.message_dict["day"] == ["You can't check in for a future date."]
    assert not DailyCheckIn.objects.exists()


def test_a_missed_day_can_be_filled_in_up_to_a_week_back(patient):
    today = selectors.local_today(patient)
    week_ago = today - dt.timedelta(days=7)
    checkin, created, _f = services.checkin_save(
        patient=patient, data=valid_post(day=week_ago.isoformat())
    )
    assert created and checkin.day == week_ago
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(
            patient=patient, data=valid_post(day=(today - dt.timedelta(days=8)).isoformat())
        )
    assert "7 days back" in exc.value.message_dict["day"][0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mood", "11", "Choose a number from 0 to 10."),
        ("mood", "-1", "Choose a number from 0 to 10."),
        ("mood", "", "Please answer this question."),
        ("anxiety", "ten", "Choose a number from 0 to 10."),
        ("sleep_quality", "6", "Choose a number from 1 to 5."),
        ("sleep_hours", "25", "Hours slept must be between 0 and 24."),
        ("sleep_hours", "-1", "Hours slept must be between 0 and 24."),
        ("sleep_hours", "lots", "Enter the hours you slept, for example 7 or 6.5."),
        ("sleep_hours", "NaN", "Enter the hours you slept, for example 7 or 6.5."),
        ("sleep_hours", "6.55", "Use at most one decimal place, for example 6.5."),
        ("day", "2026-13-45", "Enter a valid date."),
        ("note", "x" * 1001, "Keep the note under 1,000 characters."),
    ],
)
def test_out_of_range_values_are_refused_with_a_clear_message(patient, field, value, message):
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=patient, data=valid_post(**{field: value}))
    assert exc.value.message_dict[field] == [message]
    assert not DailyCheckIn.objects.exists()


def test_only_patients_check_in(clinician):
    with pytest.raises(ValidationError):
        services.checkin_save(patient=clinician, data=valid_post())


def test_substance_use_questions_are_required_in_sud_programs_only(patient, program):
    # Mental-health program: SUD answers are ignored.
    checkin, _c, _f = services.checkin_save(
        patient=patient, data=valid_post(craving="7", used_since_last="yes", used_what="x")
    )
    assert checkin.craving is None and checkin.used_since_last is None and checkin.used_what == ""
    program.kind = ProgramKind.SUBSTANCE_USE
    program.save(update_fields=["kind"])
    patient.patient_profile.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=patient, data=valid_post())
    assert set(exc.value.message_dict) == {"craving", "used_since_last"}
    checkin, _c, _f = services.checkin_save(
        patient=patient, data=valid_post(craving="4", used_since_last="no", used_what="ignored")
    )
    assert checkin.craving == 4 and checkin.used_since_last is False and checkin.used_what == ""


def test_reported_use_raises_a_measures_safety_flag(patient, program):
    program.kind = ProgramKind.SUBSTANCE_USE
    program.save(update_fields=["kind"])
    patient.patient_profile.refresh_from_db()
    _c, _created, flags = services.checkin_save(
        patient=patient, data=valid_post(craving="8", used_since_last="yes", used_what="alcohol")
    )
    assert [f.source for f in flags] == ["checkin_use"]
    flag = SafetyFlag.objects.get()
    assert flag.program == program and flag.is_open and flag.severity == "moderate"


def test_very_low_mood_raises_one_flag_even_when_the_checkin_is_edited(patient, program):
    _c, _created, flags = services.checkin_save(patient=patient, data=valid_post(mood="1"))
    assert [f.source for f in flags] == ["checkin_low_mood"]
    _c, _created, flags = services.checkin_save(patient=patient, data=valid_post(mood="0"))
    assert flags == []
    assert SafetyFlag.objects.filter(patient=patient, source="checkin_low_mood").count() == 1
    # It is the same queue intake flags go to.
    from apps.measures.selectors import flags_open_for

    assert [f.source for f in flags_open_for(user=program.staff.first().user)] == [
        "checkin_low_mood"
    ]


def test_mood_of_two_raises_no_flag(patient):
    _c, _created, flags = services.checkin_save(patient=patient, data=valid_post(mood="2"))
    assert flags == []


def test_skills_must_come_from_the_patients_own_modules(patient, clinician):
    from tests.homework.factories import assign, shipped_modules

    modules = shipped_modules()
    module = next(iter(modules.values()))
    assignment = assign(clinician, patient, module)
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=patient, data=valid_post(skills_used=[module.slug]))
    assert "skills_used" in exc.value.message_dict  # only assigned, not started yet
    assignment.status = "in_progress"
    assignment.save(update_fields=["status"])
    checkin, _c, _f = services.checkin_save(
        patient=patient, data=valid_post(skills_used=[module.slug])
    )
    assert checkin.skills_used == [module.slug]
    with pytest.raises(ValidationError):
        services.checkin_save(patient=patient, data=valid_post(skills_used=["not-a-module"]))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("note", "slept\x00 badly"),
        ("used_what", "x"),  # not asked outside a substance-use program: ignored, below
        ("mood", "7.0"),
        ("mood", "\x00"),
        ("sleep_hours", "sNaN"),
        ("sleep_hours", "Infinity"),
        ("sleep_hours", "1e999"),
        ("day", "2026-01-01T00:00"),
        ("skills_used", "a-slug-not-in-a-list"),
    ],
)
def test_malformed_answers_are_a_clear_error_and_write_nothing(patient, field, value):
    if field == "used_what":
        checkin, _c, _f = services.checkin_save(patient=patient, data=valid_post(used_what=value))
        assert checkin.used_what == ""
        return
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=patient, data=valid_post(**{field: value}))
    assert list(exc.value.message_dict) == [field]
    assert exc.value.message_dict[field][0]
    assert not DailyCheckIn.objects.exists()


def test_a_registered_question_is_asked_checked_and_saved_with_the_checkin(patient, monkeypatch):
    saved: list[tuple[int, str]] = []

    def save(*, patient, checkin, answer):
        saved.append((checkin.pk, answer))

    monkeypatch.setattr(extensions, "_questions", {})
    extensions.register_checkin_question(
        extensions.CheckInQuestion(
            key="test_question",
            order=1,
            label="Did it help?",
            choices=(("yes", "Yes"), ("no", "No")),
            asks=lambda patient: True,
            save=save,
        )
    )
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=patient, data=valid_post())
    assert exc.value.message_dict["test_question"] == ["Please answer this question."]
    with pytest.raises(ValidationError) as exc:
        services.checkin_save(patient=patient, data=valid_post(test_question="maybe"))
    assert exc.value.message_dict["test_question"] == ["Choose one of the answers."]
    assert saved == [] and not DailyCheckIn.objects.exists()
    checkin, _c, _f = services.checkin_save(patient=patient, data=valid_post(test_question="no"))
    assert saved == [(checkin.pk, "no")]


def test_a_failing_question_save_leaves_no_checkin(patient, monkeypatch):
    def save(**kwargs):
        raise RuntimeError("the other app is down")

    monkeypatch.setattr(extensions, "_questions", {})
    extensions.register_checkin_question(
        extensions.CheckInQuestion(
            key="test_question",
            order=1,
            label="Did it help?",
            choices=(("yes", "Yes"),),
            asks=lambda patient: True,
            save=save,
        )
    )
    with pytest.raises(RuntimeError):
        services.checkin_save(patient=patient, data=valid_post(test_question="yes"))
    assert not DailyCheckIn.objects.exists()


# --- repeated measures -----------------------------------------------------------------------
def test_nothing_is_due_before_the_first_fortnight(patient, program):
    admit(patient, program, days_ago=13)
    assert selectors.measures_due(patient=patient) == []


def test_phq9_and_gad7_fall_due_every_14_days_from_admission(patient, program):
    app = admit(patient, program, days_ago=15)
    due = selectors.measures_due(patient=patient)
    assert [d.code for d in due] == ["phq9", "gad7"]
    assert due[0].due_on == app.start_date + dt.timedelta(days=14)
    assert due[0].ref == f"progress:{due[0].due_on.isoformat()}"
    assert due[0].context == MeasureContext.REPEAT


def test_a_measure_done_in_the_grace_window_counts(patient, program):
    admit(patient, program, days_ago=14)
    score(patient, "phq9", 10, days_ago=2)  # given in session two days early
    assert [d.code for d in selectors.measures_due(patient=patient)] == ["gad7"]
    score(patient, "gad7", 10, days_ago=5)  # too early: last round's
    assert [d.code for d in selectors.measures_due(patient=patient)] == ["gad7"]


def test_substance_use_programs_also_repeat_auditc_and_dast10(patient, program):
    program.kind = ProgramKind.SUBSTANCE_USE
    program.save(update_fields=["kind"])
    patient.patient_profile.refresh_from_db()
    admit(patient, program, days_ago=20)
    assert [d.code for d in selectors.measures_due(patient=patient)] == [
        "phq9",
        "gad7",
        "auditc",
        "dast10",
    ]


def test_a_program_schedule_overrides_the_default(patient, program):
    MeasureSchedule.objects.create(program=program, interval_days=7, instruments=["phq9"])
    admit(patient, program, days_ago=8)
    due = selectors.measures_due(patient=patient)
    assert [d.code for d in due] == ["phq9"]
    assert due[0].due_on == selectors.local_today(patient) - dt.timedelta(days=1)


def test_discharge_measures_fall_due_with_enrollments_ref(patient, program, clinician):
    app = admit(patient, program, days_ago=30)
    discharge(app, by=clinician)
    due = selectors.measures_due(patient=patient)
    assert [d.code for d in due] == ["phq9", "gad7"]
    assert {d.ref for d in due} == {f"discharge:{app.pk}"}
    assert due[0].context == MeasureContext.DISCHARGE


@pytest.mark.parametrize(
    "now",
    [
        # Sunday 23:55 in Los Angeles, a month after the fall-back (31 × 24 h is 30 local days).
        pytest.param(dt.datetime(2026, 11, 30, 7, 55, tzinfo=dt.UTC), id="sun-23:55-after-dst-end"),
        pytest.param(dt.datetime(2026, 11, 30, 0, 5, tzinfo=dt.UTC), id="just-after-utc-midnight"),
        pytest.param(dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC), id="mon-00:30-local"),
        # Monday 00:30 a month after the spring-forward (30 × 24 h is 31 local days).
        pytest.param(dt.datetime(2026, 4, 6, 7, 30, tzinfo=dt.UTC), id="mon-00:30-after-dst-start"),
    ],
)
@pytest.mark.parametrize(("days_ago", "due"), [(30, ["phq9", "gad7"]), (31, [])])
def test_discharge_measures_lapse_after_a_month(patient, program, clinician, now, days_ago, due):
    app = admit(patient, program, days_ago=80, now=now)
    discharge(app, by=clinician, days_ago=days_ago, now=now)
    assert [d.code for d in selectors.measures_due(patient=patient, now=now)] == due


def test_without_an_admission_the_first_intake_measure_anchors_the_schedule(patient):
    score(patient, "phq9", 15, days_ago=15, context="intake")
    assert [d.code for d in selectors.measures_due(patient=patient)] == ["phq9", "gad7"]


def test_repeat_submit_goes_through_measures_and_is_idempotent(patient, program):
    admit(patient, program, days_ago=15)
    response = services.repeat_measure_submit(
        patient=patient, code="phq9", answers=answers_for("phq9", 12)
    )
    assert response.context == MeasureContext.REPEAT
    assert response.total == 12 and response.band == "moderate"
    assert response.ref.startswith("progress:")
    again = services.repeat_measure_submit(
        patient=patient, code="phq9", answers=answers_for("phq9", 3)
    )
    assert again.pk == response.pk
    assert MeasureResponse.objects.filter(patient=patient, instrument="phq9").count() == 1


def test_repeat_phq9_item9_raises_the_same_flag_as_at_intake(patient, program):
    admit(patient, program, days_ago=15)
    response = services.repeat_measure_submit(
        patient=patient, code="phq9", answers=answers_for("phq9", 12, item9=2)
    )
    flag = SafetyFlag.objects.get(patient=patient)
    assert flag.source == "phq9_item9" and flag.severity == "high"
    assert flag.response == response


def test_incomplete_answers_store_nothing(patient, program):
    admit(patient, program, days_ago=15)
    answers = answers_for("phq9", 12)
    del answers["q3"]
    with pytest.raises(AnswersInvalid) as exc:
        services.repeat_measure_submit(patient=patient, code="phq9", answers=answers)
    assert "q3" in exc.value.errors
    assert not MeasureResponse.objects.exists()


def test_a_measure_that_is_not_due_is_refused(patient, program):
    admit(patient, program, days_ago=3)
    with pytest.raises(AnswersInvalid):
        services.repeat_measure_submit(patient=patient, code="phq9", answers=answers_for("phq9", 3))
    with pytest.raises(AnswersInvalid):
        services.repeat_measure_submit(patient=patient, code="cssrs", answers={})


def test_episode_uses_enrollment_start_date(patient, program):
    app = admit(patient, program, days_ago=20)
    episode = selectors.episode_for(patient=patient)
    assert episode.admitted_on == app.start_date
    assert episode.source == "enrollment"
    assert selectors.patient_zone(patient) == ZoneInfo("America/Los_Angeles")
    assert timezone.is_aware(timezone.now())
