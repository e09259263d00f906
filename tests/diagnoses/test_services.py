from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.diagnoses import selectors, services
from apps.diagnoses.models import Diagnosis, DiagnosisStatus, LevelOfCareJustification, Rank
from tests.factories import clinician_in

pytestmark = pytest.mark.django_db


def test_add_copies_the_library_description_and_audits(patient, clinician):
    dx = services.diagnosis_add(
        patient=patient, by=clinician, code="f33.1", rank=Rank.PRIMARY, note="  recurrent  "
    )
    assert (dx.code, dx.description, dx.note) == (
        "F33.1",
        "Major depressive disorder, recurrent, moderate",
        "recurrent",
    )
    event = AuditEvent.objects.get(object_type="diagnoses.diagnosis", action="create")
    assert (event.actor, event.patient, event.object_id) == (clinician, patient, str(dx.pk))
    assert "recurrent" not in event.detail  # no clinical text in the audit trail


@pytest.mark.parametrize("code", ["F33", "T43.011", "F99.99", "NOPE", "F01-F09", ""])
def test_invalid_non_billable_and_made_up_codes_are_refused(patient, clinician, code):
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_add(patient=patient, by=clinician, code=code, rank=Rank.PRIMARY)
    assert not Diagnosis.objects.exists()


def test_category_refusal_says_to_pick_a_more_specific_code(patient, clinician):
    with pytest.raises(services.DiagnosisError) as exc:
        services.diagnosis_add(patient=patient, by=clinician, code="F33", rank=Rank.PRIMARY)
    assert "not a billable code" in exc.value.message_dict["code"][0]


def test_a_new_primary_demotes_the_current_one(patient, clinician, primary):
    new = services.diagnosis_add(patient=patient, by=clinician, code="F43.10", rank=Rank.PRIMARY)
    primary.refresh_from_db()
    assert (primary.rank, new.rank) == (Rank.SECONDARY, Rank.PRIMARY)
    assert Diagnosis.objects.filter(patient=patient, rank="primary", status="active").count() == 1


def test_the_database_refuses_two_active_primaries(patient, clinician, primary):
    with pytest.raises(IntegrityError), transaction.atomic():
        Diagnosis.objects.create(
            patient=patient, code="F41.1", description="x", rank=Rank.PRIMARY, added_by=clinician
        )


def test_a_resolved_primary_leaves_room_for_a_new_one(patient, clinician, primary):
    services.diagnosis_resolve(diagnosis=primary, by=clinician, resolved_date=timezone.localdate())
    new = services.diagnosis_add(patient=patient, by=clinician, code="F41.1", rank=Rank.PRIMARY)
    primary.refresh_from_db()
    assert primary.rank == Rank.PRIMARY and primary.status == DiagnosisStatus.RESOLVED
    assert new.rank == Rank.PRIMARY


def test_the_same_code_twice_on_the_active_list_is_refused(patient, clinician, primary):
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_add(patient=patient, by=clinician, code="F33.1", rank=Rank.SECONDARY)


def test_promoting_a_secondary_demotes_the_primary(patient, clinician, primary, secondary):
    services.diagnosis_update(
        diagnosis=secondary, by=clinician, rank=Rank.PRIMARY, onset_date=None, note=""
    )
    primary.refresh_from_db()
    secondary.refresh_from_db()
    assert (primary.rank, secondary.rank) == (Rank.SECONDARY, Rank.PRIMARY)


def test_dates_are_checked(patient, clinician, primary):
    today = timezone.localdate()
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_add(
            patient=patient,
            by=clinician,
            code="F41.1",
            rank=Rank.SECONDARY,
            onset_date=today + dt.timedelta(days=1),
        )
    services.diagnosis_update(
        diagnosis=primary, by=clinician, rank=Rank.PRIMARY, onset_date=today, note=""
    )
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_resolve(
            diagnosis=primary, by=clinician, resolved_date=today - dt.timedelta(days=1)
        )


def test_resolving_twice_is_refused_and_keeps_history(patient, clinician, primary):
    services.diagnosis_resolve(diagnosis=primary, by=clinician, resolved_date=timezone.localdate())
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_resolve(
            diagnosis=primary, by=clinician, resolved_date=timezone.localdate()
        )
    assert primary.history.count() == 2  # created, resolved
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_update(
            diagnosis=primary, by=clinician, rank=Rank.PRIMARY, onset_date=None, note="x"
        )


def test_only_todays_own_unused_entry_may_be_removed(patient, clinician, program, primary):
    colleague = clinician_in(program, email="colleague@example.test")
    assert not services.diagnosis_removable(diagnosis=primary, by=colleague)
    Diagnosis.objects.filter(pk=primary.pk).update(added_at=timezone.now() - dt.timedelta(days=2))
    primary.refresh_from_db()
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_remove_entered_in_error(diagnosis=primary, by=clinician)
    assert Diagnosis.objects.filter(pk=primary.pk).exists()


def test_a_used_diagnosis_is_never_removed(patient, clinician, primary, monkeypatch):
    monkeypatch.setattr(services, "_usage_checks", [lambda d: True])
    with pytest.raises(services.DiagnosisError):
        services.diagnosis_remove_entered_in_error(diagnosis=primary, by=clinician)
    monkeypatch.setattr(services, "_usage_checks", [])
    services.diagnosis_remove_entered_in_error(diagnosis=primary, by=clinician)
    assert not Diagnosis.objects.exists()
    assert AuditEvent.objects.filter(action="delete", object_type="diagnoses.diagnosis").exists()


def test_active_on_a_day_primary_first(patient, clinician):
    today = timezone.localdate()
    secondary = services.diagnosis_add(
        patient=patient,
        by=clinician,
        code="F41.1",
        rank=Rank.SECONDARY,
        onset_date=today - dt.timedelta(days=30),
    )
    primary = services.diagnosis_add(
        patient=patient,
        by=clinician,
        code="F33.1",
        rank=Rank.PRIMARY,
        onset_date=today - dt.timedelta(days=10),
    )
    later = services.diagnosis_add(
        patient=patient, by=clinician, code="F43.10", rank=Rank.SECONDARY, onset_date=today
    )
    services.diagnosis_resolve(
        diagnosis=secondary, by=clinician, resolved_date=today - dt.timedelta(days=2)
    )
    assert selectors.diagnoses_active_on(patient=patient, day=today - dt.timedelta(days=3)) == [
        primary,
        secondary,
    ]
    # Resolved two days ago: gone from that day on.
    assert selectors.diagnoses_active_on(patient=patient, day=today - dt.timedelta(days=2)) == [
        primary
    ]
    assert selectors.diagnoses_active_on(patient=patient, day=today) == [primary, later]
    assert selectors.diagnoses_active_on(patient=patient, day=today - dt.timedelta(days=20)) == [
        secondary
    ]


def test_level_of_care_is_kept_per_review(patient, clinician):
    today = timezone.localdate()
    services.level_of_care_record(
        patient=patient, by=clinician, text="First", effective_date=today - dt.timedelta(days=30)
    )
    services.level_of_care_record(
        patient=patient, by=clinician, text="Review", effective_date=today
    )
    assert selectors.level_of_care_latest(patient=patient).text == "Review"
    assert LevelOfCareJustification.objects.count() == 2
    with pytest.raises(services.DiagnosisError):
        services.level_of_care_record(
            patient=patient, by=clinician, text="  ", effective_date=today
        )
