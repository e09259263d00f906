"""Individual notes: start from the visit, autosave, sign and lock, late, co-sign, addenda,
open notes and withholding, psychotherapy notes, notes due."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.charting import selectors, services
from apps.charting.models import DocumentationPolicy, Note, PsychotherapyNote
from apps.charting.signing import SignatureInvalid
from apps.core.signed import SignedRecordError
from apps.video.models import Seat, SeatStatus, VideoRoom
from conftest import totp_now
from tests.charting.conftest import sign_data
from tests.factories import TOTP_SECRET

pytestmark = pytest.mark.django_db

DAP = {"data": "Slept better.", "assessment": "Improving.", "plan": "Keep the diary."}


def _draft(client, login, clinician, visit, **extra):
    login(client, clinician)
    response = client.post(reverse("charting:appointment_note", args=[visit.pk]))
    note = Note.objects.get(appointment=visit)
    assert response.url == reverse("charting:note", args=[note.pk])
    return note


def _save(client, note, content=DAP, **details):
    data = {
        "service_date": note.service_date.isoformat(),
        "start_time": "14:00",
        "end_time": "14:53",
        "modality": "video",
        "risk": "none",
        **content,
        **details,
    }
    return client.post(reverse("charting:note_save", args=[note.pk]), data)


def test_note_starts_from_the_visit_with_location_and_place_of_service(
    client, login, clinician, patient, visit
):
    room = VideoRoom.objects.create(appointment=visit)
    Seat.objects.create(room=room, user=patient, status=SeatStatus.ADMITTED, location="home")
    note = _draft(client, login, clinician, visit)
    assert (note.template.slug, note.location, note.place_of_service) == ("dap", "home", "10")
    assert note.started_at == visit.starts_at and not note.is_signed()
    # A second click opens the same draft.
    client.post(reverse("charting:appointment_note", args=[visit.pk]))
    assert Note.objects.filter(appointment=visit).count() == 1


def test_sign_locks_the_note_and_edits_are_refused_everywhere(client, login, clinician, visit):
    note = _draft(client, login, clinician, visit)
    assert _save(client, note).status_code == 302
    response = client.post(reverse("charting:note_sign", args=[note.pk]), sign_data(clinician))
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.is_signed() and note.signature == clinician.full_name and not note.is_late
    assert AuditEvent.objects.filter(action="sign", object_id=str(note.pk)).exists()
    # The view, the model and a second sign all refuse.
    assert _save(client, note, content={**DAP, "plan": "changed"}).status_code == 404
    note.content = {"data": "rewritten"}
    with pytest.raises(SignedRecordError):
        note.save()
    note.refresh_from_db()
    assert note.content["plan"] == DAP["plan"]
    again = client.post(
        reverse("charting:note_sign", args=[note.pk]), sign_data(clinician), follow=True
    )
    assert "already signed" in again.content.decode()


def test_signed_note_is_read_only_in_admin(client, login, admin, clinician, visit):
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    note.content = DAP
    note.save()
    services.note_sign(
        note=note, by=clinician, typed_name=clinician.full_name, secret="correct-horse-battery-9"
    )
    login(client, admin)
    url = reverse("admin:charting_note_change", args=[note.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"content": '{"data": "rewritten"}', "risk": "high"})
    assert response.status_code == 403
    note.refresh_from_db()
    assert note.content == DAP and note.risk == "none"


@pytest.mark.parametrize(
    ("typed", "secret", "code"),
    [("Someone Else", None, "name"), (None, "wrong-password", "secret"), ("", None, "name")],
)
def test_a_wrong_signature_signs_nothing(clinician, visit, typed, secret, code):
    cache.clear()
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    note.content = DAP
    note.save()
    with pytest.raises(SignatureInvalid) as exc:
        services.note_sign(
            note=note,
            by=clinician,
            typed_name=clinician.full_name if typed is None else typed,
            secret=secret or "correct-horse-battery-9",
        )
    assert exc.value.code == code
    note.refresh_from_db()
    assert not note.is_signed()


def test_an_authenticator_code_signs(clinician, visit):
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    note.content = DAP
    note.save()
    services.note_sign(
        note=note,
        by=clinician,
        typed_name=f"  {clinician.full_name.upper()} ",
        secret=totp_now(TOTP_SECRET),
    )
    note.refresh_from_db()
    assert note.is_signed()


def test_five_wrong_secrets_lock_signing_for_a_while(clinician, visit):
    cache.clear()
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    note.content = DAP
    note.save()
    for _ in range(5):
        with pytest.raises(SignatureInvalid):
            services.note_sign(
                note=note, by=clinician, typed_name=clinician.full_name, secret="nope"
            )
    with pytest.raises(SignatureInvalid) as exc:
        services.note_sign(
            note=note,
            by=clinician,
            typed_name=clinician.full_name,
            secret="correct-horse-battery-9",
        )
    assert exc.value.code == "rate"
    cache.clear()


def test_sign_requires_the_templates_fields_and_a_safety_plan_review_when_risk(
    client, login, clinician, visit
):
    note = _draft(client, login, clinician, visit)
    _save(client, note, content={"data": "Only data."})
    response = client.post(reverse("charting:note_sign", args=[note.pk]), sign_data(clinician))
    assert response.status_code == 400
    assert "Assessment is required" in response.content.decode()
    _save(client, note, risk="moderate")
    response = client.post(reverse("charting:note_sign", args=[note.pk]), sign_data(clinician))
    assert "review the safety plan" in response.content.decode()
    note.refresh_from_db()
    assert not note.is_signed()
    _save(client, note, risk="moderate", safety_plan_reviewed="on")
    assert (
        client.post(reverse("charting:note_sign", args=[note.pk]), sign_data(clinician)).status_code
        == 302
    )


@pytest.mark.parametrize(("hours_ago", "late"), [(71.9, False), (72.1, True)])
def test_a_note_signed_more_than_72_hours_after_the_session_is_late(
    clinician, visit, hours_ago, late
):
    ended = timezone.now() - dt.timedelta(hours=hours_ago)
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    Note.objects.filter(pk=note.pk).update(content=DAP, ended_at=ended)
    note.refresh_from_db()
    services.note_sign(
        note=note, by=clinician, typed_name=clinician.full_name, secret="correct-horse-battery-9"
    )
    note.refresh_from_db()
    assert note.is_late is late


def test_the_late_threshold_is_a_program_setting(program, clinician, visit):
    DocumentationPolicy.objects.create(program=program, late_after_hours=12)
    note = services.note_start_for_appointment(appointment=visit, by=clinician)  # ended 20 h ago
    note.content = DAP
    note.save()
    services.note_sign(
        note=note, by=clinician, typed_name=clinician.full_name, secret="correct-horse-battery-9"
    )
    note.refresh_from_db()
    assert note.is_late


def test_a_supervised_clinicians_note_waits_for_the_co_signature(
    client, login, clinician, supervised, visit, other_clinician
):
    note = _draft(client, login, clinician, visit)
    _save(client, note)
    client.post(reverse("charting:note_sign", args=[note.pk]), sign_data(clinician))
    note.refresh_from_db()
    assert note.cosigner == supervised
    assert selectors.to_cosign(supervisor=supervised) == [note]
    assert not selectors.note_complete_for_billing(note)
    # The author cannot co-sign their own note, nor another program's clinician.
    assert (
        client.post(
            reverse("charting:cosign", args=["note", note.pk]), sign_data(clinician)
        ).status_code
        == 404
    )
    login(client, other_clinician)
    assert (
        client.post(
            reverse("charting:cosign", args=["note", note.pk]), sign_data(other_clinician)
        ).status_code
        == 404
    )
    login(client, supervised)
    page = client.get(reverse("charting:home")).content.decode()
    assert "To co-sign" in page
    assert (
        client.post(
            reverse("charting:cosign", args=["note", note.pk]), sign_data(supervised)
        ).status_code
        == 302
    )
    note.refresh_from_db()
    assert note.cosignature.supervisor == supervised
    assert selectors.note_complete_for_billing(note)
    assert selectors.to_cosign(supervisor=supervised) == []
    # A double submit is refused without a second row.
    client.post(reverse("charting:cosign", args=["note", note.pk]), sign_data(supervised))
    assert type(note.cosignature).objects.count() == 1


def test_addenda_are_signed_and_shown_under_the_note(client, login, clinician, visit, patient):
    note = _draft(client, login, clinician, visit)
    # A draft is edited, not amended.
    response = client.post(
        reverse("charting:addendum", args=["note", note.pk]),
        {"body": "x", **sign_data(clinician)},
        follow=True,
    )
    assert "A draft is edited" in response.content.decode()
    _save(client, note)
    client.post(reverse("charting:note_sign", args=[note.pk]), sign_data(clinician))
    client.post(
        reverse("charting:addendum", args=["note", note.pk]),
        {"body": "Correction: 60 minutes.", **sign_data(clinician)},
    )
    page = client.get(reverse("charting:note", args=[note.pk])).content.decode()
    assert "Correction: 60 minutes." in page and f"Signed by {clinician.full_name}" in page
    login(client, patient)
    assert (
        "Correction: 60 minutes."
        in client.get(reverse("charting:note", args=[note.pk])).content.decode()
    )


def test_stale_autosave_is_ignored(client, login, clinician, visit):
    note = _draft(client, login, clinician, visit)
    _save(client, note, content={**DAP, "plan": "newest"}, seq="200")
    _save(client, note, content={**DAP, "plan": "older"}, seq="100")
    note.refresh_from_db()
    assert note.content["plan"] == "newest"


@pytest.mark.parametrize(
    "bad",
    [
        {"service_date": "not-a-date"},
        {"start_time": "15:00", "end_time": "14:00"},
        {"modality": "telepathy"},
        {"data": "nul\x00byte"},
        {"goals": ["999999"]},
    ],
)
def test_bad_draft_input_is_refused_and_changes_nothing(client, login, clinician, visit, bad):
    note = _draft(client, login, clinician, visit)
    _save(client, note)
    response = (
        _save(client, note, **bad)
        if "data" not in bad
        else _save(client, note, content={**DAP, **bad})
    )
    assert response.status_code == 400
    note.refresh_from_db()
    assert note.content == DAP


def test_load_last_note_starts_from_the_patients_last_signed_note(
    client, login, clinician, visit, program, patient
):
    first = _draft(client, login, clinician, visit)
    _save(client, first)
    client.post(reverse("charting:note_sign", args=[first.pk]), sign_data(clinician))
    second_visit = type(visit).objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=visit.starts_at + dt.timedelta(hours=2),
        ends_at=visit.ends_at + dt.timedelta(hours=2),
    )
    second = _draft(client, login, clinician, second_visit)
    assert (
        "Load last note" in client.get(reverse("charting:note", args=[second.pk])).content.decode()
    )
    client.post(reverse("charting:note_load_last", args=[second.pk]))
    second.refresh_from_db()
    assert second.content == DAP and not second.is_signed()


def _signed(clinician, visit):
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    note.content = DAP
    note.save()
    return services.note_sign(
        note=note, by=clinician, typed_name=clinician.full_name, secret="correct-horse-battery-9"
    )


def test_patient_reads_their_signed_note_but_not_drafts_or_withheld_ones(
    client, login, clinician, patient, visit, program
):
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    login(client, patient)
    assert client.get(reverse("charting:note", args=[note.pk])).status_code == 404
    note = _signed(clinician, visit)
    assert client.get(reverse("charting:note", args=[note.pk])).status_code == 200
    assert "Notes from my sessions" in client.get(reverse("progress:mine")).content.decode()
    assert (
        reverse("charting:note", args=[note.pk])
        in client.get(reverse("progress:mine")).content.decode()
    )
    # Withheld with a listed reason: gone from the portal, audited.
    login(client, clinician)
    reason = selectors.policy_for(program).reasons[0]
    client.post(reverse("charting:withhold", args=[note.pk]), {"reason": reason})
    assert AuditEvent.objects.filter(detail="withheld from patient", patient=patient).exists()
    login(client, patient)
    assert client.get(reverse("charting:note", args=[note.pk])).status_code == 404
    assert (
        reverse("charting:note", args=[note.pk])
        not in client.get(reverse("progress:mine")).content.decode()
    )
    # Released again.
    login(client, clinician)
    client.post(reverse("charting:withhold", args=[note.pk]), {"release": "1"})
    login(client, patient)
    assert client.get(reverse("charting:note", args=[note.pk])).status_code == 200


def test_a_reason_not_on_the_programs_list_is_refused(client, login, clinician, visit):
    note = _signed(clinician, visit)
    login(client, clinician)
    client.post(reverse("charting:withhold", args=[note.pk]), {"reason": "Because"})
    assert not note.withholdings.exists()


def test_open_notes_off_hides_notes_from_patients(
    client, login, clinician, patient, visit, program
):
    DocumentationPolicy.objects.create(program=program, open_notes=False)
    note = _signed(clinician, visit)
    login(client, patient)
    assert client.get(reverse("charting:note", args=[note.pk])).status_code == 404


def test_outsiders_are_refused_every_note(
    client, login, clinician, visit, outsider, other_clinician, patient
):
    note = _signed(clinician, visit)
    for who in (outsider, other_clinician):
        login(client, who)
        assert client.get(reverse("charting:note", args=[note.pk])).status_code == 404
        assert (
            client.post(
                reverse("charting:addendum", args=["note", note.pk]),
                {"body": "x", **sign_data(who)},
            ).status_code
            == 404
        )
        assert (
            client.post(reverse("charting:withhold", args=[note.pk]), {"release": "1"}).status_code
            == 404
        )
    assert AuditEvent.objects.filter(action="denied", object_type="charting.note").count() >= 6
    # Another program's clinician cannot start a note on this patient's visit either.
    assert client.post(reverse("charting:appointment_note", args=[visit.pk])).status_code == 404
    # A patient cannot write: the staff pages are 404 to them.
    login(client, patient)
    assert client.post(reverse("charting:appointment_note", args=[visit.pk])).status_code == 404
    assert client.get(reverse("charting:home")).status_code == 404
    client.logout()
    response = client.get(reverse("charting:note", args=[note.pk]))
    assert response.status_code == 302 and "login" in response.url


def test_another_clinicians_draft_is_private_to_its_author(
    client, login, clinician, visit, program
):
    note = services.note_start_for_appointment(appointment=visit, by=clinician)
    from tests.factories import clinician_in

    colleague = clinician_in(program, email="colleague@example.test")
    login(client, colleague)
    assert client.get(reverse("charting:note", args=[note.pk])).status_code == 404
    assert _save(client, note).status_code == 404


def test_psychotherapy_notes_are_for_their_author_only(
    client, login, clinician, patient, program, visit
):
    login(client, clinician)
    url = reverse("charting:psychotherapy", args=[patient.pk])
    client.post(url, {"body": "Process thoughts about transference."})
    assert PsychotherapyNote.objects.filter(author=clinician, patient=patient).count() == 1
    assert "transference" in client.get(url).content.decode()
    # Never on the chart, even for its author.
    assert (
        "transference"
        not in client.get(reverse("progress:chart", args=[patient.pk])).content.decode()
    )
    from tests.factories import clinician_in

    colleague = clinician_in(program, email="colleague@example.test")
    login(client, colleague)
    assert "transference" not in client.get(url).content.decode()
    login(client, patient)
    assert client.get(url).status_code == 404
    assert "transference" not in client.get(reverse("progress:mine")).content.decode()


def test_notes_due_lists_held_sessions_until_signed(
    client, login, clinician, visit, django_assert_max_num_queries
):
    due = selectors.notes_due_for(clinician=clinician)
    assert [(d.kind, d.pk) for d in due] == [("appointment", visit.pk)]
    login(client, clinician)
    with django_assert_max_num_queries(20):
        page = client.get(reverse("charting:home")).content.decode()
    assert "Write note" in page
    assert "Notes due" in client.get(reverse("scheduling:today")).content.decode()
    _signed(clinician, visit)
    assert selectors.notes_due_for(clinician=clinician) == []


def test_admins_see_overdue_notes_per_clinician(client, login, admin, clinician, visit):
    ended = timezone.now() - dt.timedelta(hours=80)
    type(visit).objects.filter(pk=visit.pk).update(
        starts_at=ended - dt.timedelta(hours=1), ends_at=ended
    )
    rows = selectors.overdue_by_clinician(viewer=admin)
    assert [(r.clinician, r.due, r.overdue) for r in rows] == [(clinician, 1, 1)]
    login(client, admin)
    assert "Documentation by clinician" in client.get(reverse("charting:home")).content.decode()


def test_chart_lists_notes_with_their_state(
    client, login, clinician, patient, visit, django_assert_max_num_queries
):
    _signed(clinician, visit)
    login(client, clinician)
    page = client.get(reverse("progress:chart", args=[patient.pk])).content.decode()
    assert "DAP note" in page and "Signed" in page


def test_documentation_timeliness_counts_group_notes_once(clinician, visit, program, held_session):
    _signed(clinician, visit)  # on time
    group = services.group_note_start(session=held_session, by=clinician)
    for part in group.member_notes.all():
        Note.objects.filter(pk=part.pk).update(
            content={"participation": "Active", "progress": "ok"}
        )
    GroupNote = type(group)
    GroupNote.objects.filter(pk=group.pk).update(
        content={"topic": "t", "interventions": "i", "process": "p"},
        ended_at=timezone.now() - dt.timedelta(hours=100),
    )
    group.refresh_from_db()
    services.group_note_sign(
        group_note=group,
        by=clinician,
        typed_name=clinician.full_name,
        secret="correct-horse-battery-9",
    )
    assert selectors.documentation_timeliness([program.pk], None, None) == {program.pk: "50% of 2"}


def test_assessment_notes_show_the_screening_scores_already_collected(
    client, login, clinician, patient, templates
):
    from apps.charting.models import NoteTemplate
    from tests.progress.factories import score

    score(patient, "phq9", 17, days_ago=10, context="intake")
    score(patient, "phq9", 12, days_ago=2)
    login(client, clinician)
    biopsychosocial = NoteTemplate.objects.get(slug="biopsychosocial")
    client.post(
        reverse("charting:patient_note_new", args=[patient.pk]), {"template": biopsychosocial.pk}
    )
    note = Note.objects.get(patient=patient, template=biopsychosocial)
    page = client.get(reverse("charting:note", args=[note.pk])).content.decode()
    assert "Screening results" in page and "PHQ-9" in page and " 12 " in page
    assert "Mental status exam" in page and "Thought process" in page
    # A DAP note does not carry them.
    dap = NoteTemplate.objects.get(slug="dap")
    client.post(reverse("charting:patient_note_new", args=[patient.pk]), {"template": dap.pk})
    other = Note.objects.get(patient=patient, template=dap)
    assert (
        "Screening results"
        not in client.get(reverse("charting:note", args=[other.pk])).content.decode()
    )


def test_psychotherapy_notes_stay_out_of_the_progress_summary(client, login, clinician, patient):
    services.psychotherapy_note_add(
        by=clinician, patient=patient, body="Countertransference musings."
    )
    login(client, clinician)
    summary = client.get(reverse("progress:summary", args=[patient.pk])).content.decode()
    assert "Countertransference" not in summary


def test_a_substance_use_plan_shows_the_latest_asam_and_offers_reassessment(
    client, login, clinician, patient, program, templates
):
    from apps.charting.models import NoteTemplate

    program.kind = "substance_use"
    program.save(update_fields=["kind"])
    login(client, clinician)
    url = reverse("enrollment:patient_treatment_plan", args=[patient.pk])
    assert "Start the ASAM assessment" in client.get(url).content.decode()
    asam = NoteTemplate.objects.get(slug="asam")
    note = services.note_start(patient=patient, by=clinician, template=asam)
    dims = {
        f"d{i}_{k}": "1"
        for i, k in enumerate(
            [
                "intoxication_withdrawal",
                "biomedical",
                "emotional_behavioral",
                "readiness",
                "relapse_potential",
                "recovery_environment",
            ],
            1,
        )
    }
    Note.objects.filter(pk=note.pk).update(
        content={
            **dims,
            "recommended_level": "2.1 Intensive outpatient",
            "justification": "Meets 2.1.",
        }
    )
    note.refresh_from_db()
    services.note_sign(
        note=note, by=clinician, typed_name=clinician.full_name, secret="correct-horse-battery-9"
    )
    page = client.get(url).content.decode()
    assert (
        "Recommended level 2.1 Intensive outpatient" in page and "Re-assess for this review" in page
    )
    # A mental-health program's plan has no ASAM card.
    program.kind = "mental_health"
    program.save(update_fields=["kind"])
    assert "Level of care (ASAM)" not in client.get(url).content.decode()
