from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.measures.scoring import AnswersInvalid
from apps.measures.selectors import flags_open_for
from apps.measures.services import measure_submit, safety_flag_acknowledge, safety_flag_raise
from tests.factories import patient_in

pytestmark = pytest.mark.django_db

PHQ9_ITEM9 = {f"q{n}": 0 for n in range(1, 9)} | {"q9": 2}


def test_measure_submit_stores_score_and_audits(patient, program):
    response = measure_submit(
        patient=patient,
        instrument="gad7",
        answers={f"q{n}": 2 for n in range(1, 8)},
        context="repeat",
    )
    assert (response.total, response.band, response.program) == (14, "moderate", program)
    assert AuditEvent.objects.filter(object_id=str(response.pk), action="create").exists()


def test_measure_submit_with_a_ref_is_idempotent(patient):
    first = measure_submit(
        patient=patient, instrument="phq9", answers=PHQ9_ITEM9, context="repeat", ref="r1"
    )
    again = measure_submit(
        patient=patient, instrument="phq9", answers=PHQ9_ITEM9, context="repeat", ref="r1"
    )
    assert first.pk == again.pk
    assert SafetyFlag.objects.count() == 1


def test_measure_submit_refuses_unknown_instrument_and_context(patient):
    with pytest.raises(AnswersInvalid):
        measure_submit(patient=patient, instrument="xyz", answers={}, context="repeat")
    with pytest.raises(AnswersInvalid):
        measure_submit(patient=patient, instrument="phq9", answers=PHQ9_ITEM9, context="party")
    assert not MeasureResponse.objects.exists()


def test_acknowledge_needs_a_note_and_happens_once(patient, program, clinician, other_clinician):
    flag = safety_flag_raise(
        patient=patient, program=program, severity="urgent", source="t", reason="r"
    )
    with pytest.raises(ValidationError):
        safety_flag_acknowledge(flag=flag, by=clinician, note="   ")
    flag.refresh_from_db()
    assert flag.is_open
    safety_flag_acknowledge(flag=flag, by=clinician, note="Called, safe.")
    with pytest.raises(ValidationError):
        safety_flag_acknowledge(flag=flag, by=clinician, note="Again")
    flag.refresh_from_db()
    assert flag.acknowledgement_note == "Called, safe." and flag.acknowledged_by == clinician


def test_database_refuses_an_acknowledgement_without_a_note(patient, program, clinician):
    flag = safety_flag_raise(
        patient=patient, program=program, severity="high", source="t", reason="r"
    )
    with pytest.raises(IntegrityError):
        SafetyFlag.objects.filter(pk=flag.pk).update(
            acknowledged_at=timezone.now(), acknowledged_by=clinician
        )


def test_open_flags_are_ordered_most_severe_first(patient, program, clinician):
    safety_flag_raise(patient=patient, program=program, severity="moderate", source="a", reason="r")
    safety_flag_raise(patient=patient, program=program, severity="urgent", source="b", reason="r")
    safety_flag_raise(patient=patient, program=program, severity="high", source="c", reason="r")
    assert [f.severity for f in flags_open_for(user=clinician)] == ["urgent", "high", "moderate"]


def test_flag_views_acknowledge_with_note(client, login, patient, program, clinician):
    flag = safety_flag_raise(
        patient=patient, program=program, severity="high", source="t", reason="r"
    )
    login(client, clinician)
    url = reverse("measures:flag_detail", args=[flag.pk])
    assert "Pat Member" in client.get(url).content.decode()
    assert client.post(url, {"note": ""}).status_code == 400
    flag.refresh_from_db()
    assert flag.is_open
    assert client.post(url, {"note": "Spoke by phone."}).status_code == 302
    flag.refresh_from_db()
    assert not flag.is_open
    # a second acknowledgement is refused with a message, not a 500
    response = client.post(url, {"note": "again"}, follow=True)
    assert "already acknowledged" in response.content.decode()
    flag.refresh_from_db()
    assert flag.acknowledgement_note == "Spoke by phone."


def test_flag_list_query_count_does_not_grow(
    client, login, program, clinician, django_assert_num_queries
):
    login(client, clinician)
    for n in range(2):
        p = patient_in(program, email=f"f{n}@example.test")
        safety_flag_raise(patient=p, program=program, severity="high", source="t", reason="r")
    client.get(reverse("measures:flags"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("measures:flags"))
    for n in range(2, 8):
        p = patient_in(program, email=f"f{n}@example.test")
        safety_flag_raise(patient=p, program=program, severity="urgent", source="t", reason="r")
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("measures:flags"))
    assert response.content.decode().count("/measures/flags/") >= 8


def test_clinician_dashboard_shows_open_flags_panel(client, login, patient, program, clinician):
    safety_flag_raise(patient=patient, program=program, severity="urgent", source="t", reason="r")
    body = login(client, clinician).get(reverse("home")).content.decode()
    assert "Open safety flags" in body and "Pat Member" in body


def test_patient_dashboard_shows_application_panel(client, login, patient):
    body = login(client, patient).get(reverse("home")).content.decode()
    assert "My application" in body
