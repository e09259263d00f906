"""Releases of information, revocation and the disclosure log (issue 28): a patient signs a
release; revoking it takes effect before the next disclosure and stops a guest link already
sent; Part 2 notices travel with Part 2 disclosures only; strangers are refused everything."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.disclosures.models import Disclosure
from apps.disclosures.services import disclosure_record
from apps.enrollment import selectors, services
from apps.enrollment.models import (
    ConsentKind,
    ConsentSignature,
    ReleaseOfInformation,
    Revocation,
)
from apps.notifications.models import Outbox
from apps.programs.models import ProgramKind
from apps.scheduling.models import Appointment
from apps.video.models import VisitGuest
from tests.enrollment.factories import consent_documents
from tests.factories import ProgramFactory, clinician_in, patient_in

pytestmark = pytest.mark.django_db

SISTER = {
    "recipient_kind": "family",
    "recipient_name": "Maya Member",
    "recipient_relationship": "sister",
    "items": ["attendance"],
    "purpose": "Family sessions",
    "expiry_event": "when I complete the program",
    "may_receive_appointment_times": True,
    "recipient_email": "maya@family.example",
}


def signed_release(patient, by=None, **overrides) -> ReleaseOfInformation:
    release = services.release_create(by=by or patient, patient=patient, **{**SISTER, **overrides})
    return services.release_sign(
        patient=patient, release=release, typed_name=patient.full_name, ip=None, user_agent="t"
    )


def today(patient) -> dt.date:
    return selectors.patient_today(patient)


# --- create and sign ---------------------------------------------------------------------
def test_patient_writes_and_signs_a_release_and_the_signed_text_is_kept(login, patient):
    client = login(Client(), patient)
    response = client.post(
        "/enrollment/releases/new/",
        {**SISTER, "may_receive_appointment_times": "on"},
    )
    release = ReleaseOfInformation.objects.get()
    assert response.status_code == 302 and release.signed_at is None
    page = client.get(f"/enrollment/releases/{release.pk}/")
    assert b"Maya Member" in page.content and b"Sign" in page.content
    response = client.post(
        f"/enrollment/releases/{release.pk}/", {"agree": "on", "typed_name": "pat member"}
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.signed_at is not None and release.typed_name == "pat member"
    assert "Maya Member" in release.signed_text and "sister" in release.signed_text
    assert "appointment" in release.signed_text.lower()
    assert release.items == ["attendance", "appointment_times"]  # the flag implies the item
    assert selectors.release_is_active(release)
    # Signed means immutable.
    release.purpose = "Something else"
    with pytest.raises(ValidationError):
        release.save()
    details = set(AuditEvent.objects.filter(patient=patient).values_list("detail", flat=True))
    assert {"release drafted (family)", "release signed"} <= details
    assert AuditEvent.objects.filter(
        patient=patient, action="view", object_type="enrollment.releaseofinformation"
    ).exists()


def test_signing_twice_is_refused_and_changes_nothing(login, patient):
    release = signed_release(patient)
    signed_at = release.signed_at
    with pytest.raises(ValidationError):
        services.release_sign(
            patient=patient, release=release, typed_name=patient.full_name, ip=None, user_agent=""
        )
    client = login(Client(), patient)
    response = client.post(
        f"/enrollment/releases/{release.pk}/", {"agree": "on", "typed_name": patient.full_name}
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.signed_at == signed_at


def test_a_wrong_name_does_not_sign(login, patient):
    release = services.release_create(by=patient, patient=patient, **SISTER)
    response = login(Client(), patient).post(
        f"/enrollment/releases/{release.pk}/", {"agree": "on", "typed_name": "Someone Else"}
    )
    assert response.status_code == 400
    release.refresh_from_db()
    assert release.signed_at is None


def test_clinician_drafts_a_release_only_the_patient_signs(login, clinician, patient):
    client = login(Client(), clinician)
    response = client.post(f"/enrollment/patients/{patient.pk}/releases/new/", SISTER)
    assert response.status_code == 302
    release = ReleaseOfInformation.objects.get()
    assert release.created_by == clinician and release.patient == patient
    response = client.post(
        f"/enrollment/releases/{release.pk}/", {"agree": "on", "typed_name": "Carla Clinician"}
    )
    release.refresh_from_db()
    assert release.signed_at is None
    with pytest.raises(ValidationError):
        services.release_sign(
            patient=clinician, release=release, typed_name="Carla Clinician", ip=None, user_agent=""
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"expires_on": "2000-01-01", "expiry_event": ""},
        {"expiry_event": "", "expires_on": ""},
        {"recipient_name": "   "},
        {"recipient_kind": "martian"},
        {"items": ["everything"]},
        {"items": [], "items_other": ""},
        {"purpose": ""},
        {"recipient_email": "not-an-email"},
        {"recipient_email": "maya@family.example\x00"},
        {"may_receive_appointment_times": "on", "recipient_email": ""},
    ],
)
def test_bad_release_input_is_a_form_error_and_writes_nothing(login, patient, bad):
    data = {**SISTER, "may_receive_appointment_times": "", **bad}
    response = login(Client(), patient).post("/enrollment/releases/new/", data)
    assert response.status_code == 400
    assert not ReleaseOfInformation.objects.exists()


def test_expiry_in_the_past_is_refused_by_the_service(patient):
    with pytest.raises(ValidationError) as exc:
        services.release_create(
            by=patient,
            patient=patient,
            **{**SISTER, "expiry_event": "", "expires_on": today(patient) - dt.timedelta(days=1)},
        )
    assert "expires_on" in exc.value.message_dict


def test_a_release_is_active_through_its_expiry_date_and_not_after(patient, clinician):
    release = signed_release(patient, expiry_event="", expires_on=today(patient))
    assert selectors.release_is_active(release, today=today(patient))
    assert not selectors.release_is_active(release, today=today(patient) + dt.timedelta(days=1))
    assert selectors.release_state(release, today=today(patient) + dt.timedelta(days=1)) == (
        "expired"
    )
    # Recording a disclosure under an expired release is refused.
    ReleaseOfInformation.objects.filter(pk=release.pk).update(
        expires_on=today(patient) - dt.timedelta(days=1)
    )
    with pytest.raises(ValidationError) as exc:
        disclosure_record(by=clinician, release=release, kind="records", description="x")
    assert "expired" in str(exc.value)
    assert not Disclosure.objects.exists()


# --- revocation ----------------------------------------------------------------------------
def test_revocation_takes_effect_before_the_next_disclosure(login, patient, clinician):
    release = signed_release(patient)
    first = disclosure_record(
        by=clinician, release=release, kind="referral_letter", description="Letter"
    )
    assert first.part2_notice == ""  # not a substance-use program
    patient_client = login(Client(), patient)
    page = patient_client.get(f"/enrollment/revoke/release/{release.pk}/")
    assert b"does not undo" in page.content or b"not undo" in page.content
    # No confirmation, no revocation.
    response = patient_client.post(
        f"/enrollment/revoke/release/{release.pk}/", {"effective_on": today(patient).isoformat()}
    )
    assert response.status_code == 400 and not Revocation.objects.exists()
    response = patient_client.post(
        f"/enrollment/revoke/release/{release.pk}/",
        {"effective_on": today(patient).isoformat(), "reason": "Changed my mind", "confirm": "on"},
    )
    assert response.status_code == 302
    with pytest.raises(ValidationError):
        disclosure_record(by=clinician, release=release, kind="records", description="More")
    staff = login(Client(), clinician)
    response = staff.post(
        f"/disclosures/patients/{patient.pk}/new/",
        {"release": release.pk, "kind": "records", "description": "More records"},
    )
    assert response.status_code == 400 and b"revoked" in response.content
    assert Disclosure.objects.count() == 1  # the one made before stands
    chart = staff.get(f"/progress/patients/{patient.pk}/").content.decode()
    assert "Revoked" in chart and "1 revoked" in chart
    assert AuditEvent.objects.filter(patient=patient, detail="release revoked").exists()


def test_revoking_twice_is_refused(login, patient):
    release = signed_release(patient)
    services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    with pytest.raises(ValidationError):
        services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    response = login(Client(), patient).post(
        f"/enrollment/revoke/release/{release.pk}/",
        {"effective_on": today(patient).isoformat(), "confirm": "on"},
    )
    assert response.status_code == 302
    assert Revocation.objects.count() == 1


def test_a_revocation_cannot_be_dated_in_the_past_and_an_unsigned_release_has_none(patient):
    release = signed_release(patient)
    with pytest.raises(ValidationError):
        services.consent_revoke(
            patient=patient, release=release, effective_on=today(patient) - dt.timedelta(days=1)
        )
    draft = services.release_create(by=patient, patient=patient, **SISTER)
    with pytest.raises(ValidationError):
        services.consent_revoke(patient=patient, release=draft, effective_on=today(patient))
    assert not Revocation.objects.exists()


def test_a_revocation_dated_ahead_stops_disclosures_from_that_day(patient, clinician):
    release = signed_release(patient)
    tomorrow = today(patient) + dt.timedelta(days=1)
    services.consent_revoke(patient=patient, release=release, effective_on=tomorrow)
    release = ReleaseOfInformation.objects.select_related("revocation").get(pk=release.pk)
    assert selectors.release_is_active(release, today=today(patient))
    assert not selectors.release_is_active(release, today=tomorrow)


def test_revoking_the_treatment_consent_is_allowed_and_alerts_the_clinician(login, patient):
    docs = consent_documents()
    treatment = next(d for d in docs if d.kind == ConsentKind.TREATMENT)
    signature = services.consent_sign(
        patient=patient, document=treatment, typed_name=patient.full_name, ip=None, user_agent=""
    )
    client = login(Client(), patient)
    page = client.get(f"/enrollment/revoke/consent/{signature.pk}/")
    assert b"care team will contact you" in page.content
    response = client.post(
        f"/enrollment/revoke/consent/{signature.pk}/",
        {"effective_on": today(patient).isoformat(), "confirm": "on"},
    )
    assert response.status_code == 302
    assert Revocation.objects.get().signature == signature
    alert = Outbox.objects.filter(recipient=patient.patient_profile.primary_clinician)
    assert alert.exists() and all("Pat" not in str(r.payload) for r in alert)
    assert b"Revoked as of" in client.get("/enrollment/consents/").content


# --- Part 2 --------------------------------------------------------------------------------
def test_part2_notice_is_stored_on_releases_and_disclosures_in_substance_use_programs():
    sud = ProgramFactory(slug="recovery", kind=ProgramKind.SUBSTANCE_USE)
    doctor = clinician_in(sud)
    patient = patient_in(sud, full_name="Sam Sober")
    release = signed_release(patient, by=doctor)
    assert "42 CFR part 2" in release.part2_notice and "42 CFR part 2" in release.signed_text
    disclosure = disclosure_record(by=doctor, release=release, kind="records", description="x")
    assert "42 CFR part 2 prohibits unauthorized" in disclosure.part2_notice


# --- family session guests -----------------------------------------------------------------
@pytest.fixture
def visit(program, clinician, patient):
    now = timezone.now()
    return Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="family",
        starts_at=now - dt.timedelta(minutes=2),
        ends_at=now + dt.timedelta(minutes=50),
    )


def invite(client, visit, data) -> str | None:
    client.post(f"/video/visit/{visit.pk}/invite/", data)
    page = client.get(f"/video/visit/{visit.pk}/").content.decode()
    found = re.search(r'id="guest-link" value="([^"]+)"', page)
    return "/" + found.group(1).split("/", 3)[3] if found else None


def test_family_guest_needs_an_active_release_and_a_revocation_stops_the_link(
    login, clinician, patient, visit
):
    doc = login(Client(), clinician)
    assert invite(doc, visit, {"role": "family", "name": "Maya", "patient_agreed": "on"}) is None
    release = signed_release(patient)
    page = doc.get(f"/video/visit/{visit.pk}/").content.decode()
    assert "Maya Member (sister)" in page
    link = invite(doc, visit, {"role": "family", "release": release.pk, "patient_agreed": "on"})
    assert link
    guest = VisitGuest.objects.get()
    assert guest.release == release and guest.name == "Maya"  # the name comes from the release
    services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    assert Client().get(link).status_code == 404  # an unused link stops working
    assert (
        invite(doc, visit, {"role": "family", "release": release.pk, "patient_agreed": "on"})
        is None
    )
    assert VisitGuest.objects.count() == 1


def test_a_used_guest_link_also_stops_when_the_release_is_revoked(login, clinician, patient, visit):
    release = signed_release(patient)
    link = invite(
        login(Client(), clinician),
        visit,
        {"role": "family", "release": release.pk, "patient_agreed": "on"},
    )
    guest = Client()
    assert guest.get(link).status_code == 302
    assert guest.get("/video/guest/").status_code == 200
    services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    assert guest.get("/video/guest/").status_code == 404


def test_another_patients_release_cannot_bring_a_guest(login, clinician, patient, visit, program):
    other = patient_in(program, full_name="Other Member")
    foreign = signed_release(other)
    doc = login(Client(), clinician)
    assert (
        invite(doc, visit, {"role": "family", "release": foreign.pk, "patient_agreed": "on"})
        is None
    )
    assert not VisitGuest.objects.exists()


# --- access --------------------------------------------------------------------------------
def test_strangers_are_refused_every_release_revocation_and_disclosure(
    login, patient, clinician, outsider, other_clinician
):
    release = signed_release(patient)
    disclosure_record(by=clinician, release=release, kind="records", description="x")
    sig_docs = consent_documents()
    signature = services.consent_sign(
        patient=patient, document=sig_docs[0], typed_name=patient.full_name, ip=None, user_agent=""
    )
    urls = [
        f"/enrollment/releases/{release.pk}/",
        f"/enrollment/patients/{patient.pk}/releases/new/",
        f"/enrollment/patients/{patient.pk}/consents/",
        f"/disclosures/patients/{patient.pk}/new/",
    ]
    revoke_urls = [
        f"/enrollment/revoke/release/{release.pk}/",
        f"/enrollment/revoke/consent/{signature.pk}/",
    ]
    for user in (outsider, other_clinician):
        client = login(Client(), user)
        for url in urls + revoke_urls:
            assert client.get(url).status_code == 404, (user, url)
            assert (
                client.post(url, {"confirm": "on", "effective_on": "2030-01-01"}).status_code == 404
            )
    # The patient's own clinician reads but cannot revoke for them.
    staff = login(Client(), clinician)
    for url in revoke_urls:
        assert staff.post(url, {"confirm": "on", "effective_on": "2030-01-01"}).status_code == 404
    # A patient cannot draft for someone else or log disclosures.
    mine = login(Client(), patient)
    assert mine.get(f"/enrollment/patients/{outsider.pk}/releases/new/").status_code == 404
    assert mine.get(f"/disclosures/patients/{patient.pk}/new/").status_code == 404
    anonymous = Client()
    for url in urls + revoke_urls + ["/enrollment/releases/new/"]:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Revocation.objects.exists()
    assert ReleaseOfInformation.objects.count() == 1 and Disclosure.objects.count() == 1
    # Services refuse as well.
    with pytest.raises(ValidationError):
        disclosure_record(by=other_clinician, release=release, kind="records", description="x")
    with pytest.raises(ValidationError):
        services.release_create(by=other_clinician, patient=patient, **SISTER)
    with pytest.raises(ValidationError):
        services.consent_revoke(patient=outsider, release=release, effective_on=today(patient))
    assert not ConsentSignature.objects.filter(revocation__isnull=False).exists()


def test_wrong_ids_are_404_and_a_foreign_release_id_is_a_form_error(login, patient, clinician):
    client = login(Client(), patient)
    assert client.get("/enrollment/releases/999999/").status_code == 404
    assert client.get("/enrollment/revoke/release/999999/").status_code == 404
    assert client.get("/enrollment/revoke/nonsense/1/").status_code == 404
    staff = login(Client(), clinician)
    assert staff.get("/disclosures/patients/999999/new/").status_code == 404
    response = staff.post(
        f"/disclosures/patients/{patient.pk}/new/",
        {"release": "12345", "kind": "records", "description": "x"},
    )
    assert response.status_code == 400 and not Disclosure.objects.exists()


def test_the_patient_sees_their_disclosure_log_and_staff_see_it_on_the_chart(
    login, patient, clinician
):
    release = signed_release(patient)
    disclosure_record(
        by=clinician, release=release, kind="referral_letter", description="Referral letter"
    )
    mine = login(Client(), patient).get("/progress/").content.decode()
    assert "Who your records were shared with" in mine and "Referral letter" in mine
    chart = login(Client(), clinician).get(f"/progress/patients/{patient.pk}/").content.decode()
    assert "Referral letter" in chart and "Appointment times may be shared with Maya" in chart
    assert (
        AuditEvent.objects.filter(
            patient=patient, object_type="disclosures.disclosure", action="view"
        ).count()
        >= 2
    )
    assert AuditEvent.objects.filter(patient=patient, detail="disclosure logged (referral_letter)")
