"""Group notes: one shared part, a part per attendee, signed once; each member reads only the
shared part and their own part."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.charting import selectors
from apps.charting.models import GroupNote, Note
from tests.charting.conftest import sign_data
from tests.factories import clinician_in

pytestmark = pytest.mark.django_db

SHARED = {"topic": "Urge surfing", "interventions": "DBT skills practice.", "process": "Cohesive."}


def _fill(client, session, parts, **override):
    data = dict(SHARED)
    for part in parts:
        prefix = f"m{part.patient_id}"
        data[f"{prefix}-participation"] = "Active"
        data[f"{prefix}-progress"] = f"Private progress of {part.patient.full_name}"
        data[f"{prefix}-risk"] = "none"
    data.update(override)
    return client.post(reverse("charting:group_note_save", args=[session.pk]), data)


def _started(client, login, clinician, session):
    login(client, clinician)
    client.post(reverse("charting:group_note", args=[session.pk]))
    group = GroupNote.objects.get(session=session)
    return group, selectors.group_note_members(group)


def test_facilitator_documents_every_attendee_and_signs_once(
    client, login, clinician, held_session, patient, member2, member3, absent
):
    group, parts = _started(client, login, clinician, held_session)
    assert {p.patient for p in parts} == {patient, member2, member3}  # not the absent member
    page = client.get(reverse("charting:group_note", args=[held_session.pk])).content.decode()
    assert "160 minutes" in page and absent.full_name not in page
    assert _fill(client, held_session, parts).status_code == 302
    response = client.post(
        reverse("charting:group_note_sign", args=[held_session.pk]), sign_data(clinician)
    )
    assert response.status_code == 302
    assert Note.objects.filter(group_note=group, signed_at__isnull=False).count() == 3
    group.refresh_from_db()
    assert group.is_signed() and group.signature == clinician.full_name
    # Locked: a later save is refused and changes nothing.
    _fill(client, held_session, parts, topic="Rewritten")
    group.refresh_from_db()
    assert group.content["topic"] == "Urge surfing"


def test_sign_refuses_until_every_member_part_is_complete(client, login, clinician, held_session):
    group, parts = _started(client, login, clinician, held_session)
    _fill(client, held_session, parts, **{f"m{parts[0].patient_id}-progress": ""})
    response = client.post(
        reverse("charting:group_note_sign", args=[held_session.pk]), sign_data(clinician)
    )
    assert response.status_code == 400
    assert f"{parts[0].patient.full_name}: Progress toward this member" in response.content.decode()
    _fill(client, held_session, parts, **{f"m{parts[1].patient_id}-risk": "high"})
    response = client.post(
        reverse("charting:group_note_sign", args=[held_session.pk]), sign_data(clinician)
    )
    assert "review the safety plan" in response.content.decode()
    assert not GroupNote.objects.get(pk=group.pk).is_signed()


def test_a_member_reads_the_shared_part_and_only_their_own_part(
    client, login, clinician, held_session, patient, member2
):
    group, parts = _started(client, login, clinician, held_session)
    _fill(client, held_session, parts)
    client.post(reverse("charting:group_note_sign", args=[held_session.pk]), sign_data(clinician))
    own = Note.objects.get(group_note=group, patient=patient)
    theirs = Note.objects.get(group_note=group, patient=member2)
    login(client, patient)
    page = client.get(reverse("charting:note", args=[own.pk])).content.decode()
    assert "Urge surfing" in page and f"Private progress of {patient.full_name}" in page
    assert member2.full_name not in page
    assert client.get(reverse("charting:note", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("charting:group_note", args=[held_session.pk])).status_code == 404
    mine = client.get(reverse("progress:mine")).content.decode()
    assert reverse("charting:note", args=[own.pk]) in mine
    assert reverse("charting:note", args=[theirs.pk]) not in mine


def test_only_a_facilitator_starts_or_writes_the_group_note(
    client, login, clinician, held_session, program, other_clinician, outsider
):
    colleague = clinician_in(program, email="colleague@example.test")
    for who in (colleague, other_clinician, outsider):
        login(client, who)
        assert (
            client.post(reverse("charting:group_note", args=[held_session.pk])).status_code == 404
        )
    assert not GroupNote.objects.exists()
    group, parts = _started(client, login, clinician, held_session)
    login(client, colleague)
    assert _fill(client, held_session, parts).status_code == 404
    assert (
        client.post(
            reverse("charting:group_note_sign", args=[held_session.pk]), sign_data(colleague)
        ).status_code
        == 404
    )
    group.refresh_from_db()
    assert group.content == {} and not group.is_signed()


def test_supervisor_co_signs_a_group_note(client, login, clinician, supervised, held_session):
    group, parts = _started(client, login, clinician, held_session)
    _fill(client, held_session, parts)
    client.post(reverse("charting:group_note_sign", args=[held_session.pk]), sign_data(clinician))
    part = parts[0]
    part.refresh_from_db()
    assert not selectors.note_complete_for_billing(part)
    login(client, supervised)
    assert (
        "Co-sign"
        in client.get(reverse("charting:group_note", args=[held_session.pk])).content.decode()
    )
    client.post(reverse("charting:cosign", args=["group", held_session.pk]), sign_data(supervised))
    part.refresh_from_db()
    assert selectors.note_complete_for_billing(part)


def test_the_held_session_is_due_until_its_group_note_is_signed(
    client, login, clinician, held_session
):
    assert [(d.kind, d.pk) for d in selectors.notes_due_for(clinician=clinician)] == [
        ("session", held_session.pk)
    ]
    group, parts = _started(client, login, clinician, held_session)
    assert selectors.notes_due_for(clinician=clinician)[0].has_draft
    _fill(client, held_session, parts)
    client.post(reverse("charting:group_note_sign", args=[held_session.pk]), sign_data(clinician))
    assert selectors.notes_due_for(clinician=clinician) == []


def test_my_progress_shows_the_latest_notes_and_all_my_notes_the_rest(
    client, login, clinician, held_session, patient, program, templates
):
    from apps.charting import services
    from apps.charting.models import NoteTemplate
    from apps.charting.panels import PATIENT_SECTION_NOTES

    dap = NoteTemplate.objects.get(slug="dap")
    for _ in range(PATIENT_SECTION_NOTES + 2):
        note = services.note_start(patient=patient, by=clinician, template=dap)
        Note.objects.filter(pk=note.pk).update(
            content={"data": "d", "assessment": "a", "plan": "p"}
        )
        note.refresh_from_db()
        services.note_sign(
            note=note,
            by=clinician,
            typed_name=clinician.full_name,
            secret="correct-horse-battery-9",
        )
    login(client, patient)
    mine = client.get(reverse("progress:mine")).content.decode()
    assert mine.count("DAP note") == PATIENT_SECTION_NOTES and "All my notes" in mine
    everything = client.get(reverse("charting:my_notes")).content.decode()
    assert everything.count("DAP note") == PATIENT_SECTION_NOTES + 2
    login(client, clinician)
    assert client.get(reverse("charting:my_notes")).status_code == 404
