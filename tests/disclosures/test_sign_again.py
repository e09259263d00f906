"""A revoked consent or release can be signed again at the same version: the revoked
signature and its revocation stay on record, and at most one signature per version is in
force at a time (a database constraint, not only the service's check)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.enrollment import selectors, services
from apps.enrollment.models import (
    ConsentKind,
    ConsentSignature,
    ReleaseOfInformation,
    Revocation,
)
from tests.disclosures.test_roi import signed_release, today
from tests.enrollment.factories import consent_documents

pytestmark = pytest.mark.django_db


def _treatment():
    return next(d for d in consent_documents() if d.kind == ConsentKind.TREATMENT)


def _sign(patient, document) -> ConsentSignature:
    return services.consent_sign(
        patient=patient, document=document, typed_name=patient.full_name, ip=None, user_agent=""
    )


def test_a_revoked_consent_is_signed_again_at_the_same_version(login, patient):
    document = _treatment()
    first = _sign(patient, document)
    services.consent_revoke(patient=patient, signature=first, effective_on=today(patient))
    program = patient.patient_profile.program
    assert document in selectors.consents_outstanding(patient=patient, program=program)

    client = login(Client(), patient)
    page = client.get("/enrollment/consents/").content.decode()
    assert f"/enrollment/consents/{document.pk}/sign/" in page and "sign again" in page
    response = client.post(
        f"/enrollment/consents/{document.pk}/sign/",
        {"agree": "on", "typed_name": patient.full_name},
    )
    assert response.status_code == 302
    second = ConsentSignature.objects.exclude(pk=first.pk).get()
    assert second.document == document and second.revoked_at is None
    first.refresh_from_db()
    assert first.revoked_at is not None and Revocation.objects.get().signature == first
    assert document not in selectors.consents_outstanding(patient=patient, program=program)
    assert (
        AuditEvent.objects.filter(
            patient=patient, detail=f"consent treatment v{document.version}"
        ).count()
        == 2
    )
    # Signing again while one is in force returns it: no third row.
    assert _sign(patient, document) == second
    assert ConsentSignature.objects.count() == 2


def test_the_database_allows_one_unrevoked_signature_per_version(patient):
    document = _treatment()
    first = _sign(patient, document)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentSignature.objects.create(
            patient=patient, document=document, typed_name="x", signed_at=timezone.now()
        )
    ConsentSignature.objects.filter(pk=first.pk).update(revoked_at=timezone.now())
    again = ConsentSignature.objects.create(
        patient=patient, document=document, typed_name="x", signed_at=timezone.now()
    )
    assert again.pk != first.pk


def test_an_unrevoked_consent_cannot_be_signed_a_second_time_by_a_double_submit(login, patient):
    document = _treatment()
    client = login(Client(), patient)
    for _ in range(2):
        client.post(
            f"/enrollment/consents/{document.pk}/sign/",
            {"agree": "on", "typed_name": patient.full_name},
        )
    assert ConsentSignature.objects.filter(patient=patient).count() == 1


def test_a_revoked_release_is_signed_again_as_a_copy_and_the_old_one_stays(login, patient):
    release = signed_release(patient)
    services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    client = login(Client(), patient)
    assert b"Sign this release again" in client.get(f"/enrollment/releases/{release.pk}/").content

    response = client.post(f"/enrollment/releases/{release.pk}/sign-again/")
    copy = ReleaseOfInformation.objects.get(renews=release)
    assert response.status_code == 302 and response.url == f"/enrollment/releases/{copy.pk}/"
    # A double submit finds the same copy.
    client.post(f"/enrollment/releases/{release.pk}/sign-again/")
    assert ReleaseOfInformation.objects.count() == 2
    assert copy.signed_at is None and copy.recipient_name == release.recipient_name
    assert copy.items == release.items and copy.expiry_event == release.expiry_event
    response = client.post(
        f"/enrollment/releases/{copy.pk}/", {"agree": "on", "typed_name": patient.full_name}
    )
    assert response.status_code == 302
    copy.refresh_from_db()
    assert copy.signed_at is not None and selectors.release_is_active_now(release_id=copy.pk)
    assert not selectors.release_is_active_now(release_id=release.pk)
    assert Revocation.objects.get().release == release
    page = client.get(f"/enrollment/releases/{release.pk}/").content
    assert b"You signed this release again" in page
    assert AuditEvent.objects.filter(
        patient=patient, detail=f"release drafted again from {release.pk}"
    ).exists()


def test_an_unrevoked_or_foreign_release_cannot_be_signed_again(login, patient, outsider):
    release = signed_release(patient)
    with pytest.raises(ValidationError):
        services.release_sign_again(patient=patient, release=release)
    response = login(Client(), patient).post(f"/enrollment/releases/{release.pk}/sign-again/")
    assert response.status_code == 302
    services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    with pytest.raises(ValidationError):
        services.release_sign_again(patient=outsider, release=release)
    assert (
        login(Client(), outsider).post(f"/enrollment/releases/{release.pk}/sign-again/").status_code
        == 404
    )
    assert Client().post(f"/enrollment/releases/{release.pk}/sign-again/").status_code == 302
    assert ReleaseOfInformation.objects.count() == 1


def test_one_copy_per_revoked_release_in_the_database(patient):
    release = signed_release(patient)
    services.consent_revoke(patient=patient, release=release, effective_on=today(patient))
    services.release_sign_again(patient=patient, release=release)
    other = services.release_create(
        by=patient,
        patient=patient,
        recipient_kind=release.recipient_kind,
        recipient_name=release.recipient_name,
        items=release.items,
        purpose=release.purpose,
        expiry_event=release.expiry_event,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ReleaseOfInformation.objects.filter(pk=other.pk).update(renews=release)
