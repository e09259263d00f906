"""Demo releases and disclosures: patient1 has signed a release to their sister (family
sessions, may be told appointment times) and one disclosure is logged under it; patient2 has a
release to their employer that they revoked. Idempotent: found again by recipient name."""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.disclosures.models import Disclosure, DisclosureKind
from apps.disclosures.services import disclosure_record
from apps.enrollment import services as enrollment
from apps.enrollment.models import (
    DisclosureItem,
    RecipientKind,
    ReleaseOfInformation,
    Revocation,
)


def _signed_release(patient: User, by: User, **data: object) -> ReleaseOfInformation:
    release = ReleaseOfInformation.objects.filter(
        patient=patient, recipient_name=data["recipient_name"]
    ).first()
    if release is None:
        release = enrollment.release_create(by=by, patient=patient, **data)  # type: ignore[arg-type]
    if release.signed_at is None:
        release = enrollment.release_sign(
            patient=patient,
            release=release,
            typed_name=patient.full_name,
            ip="127.0.0.1",
            user_agent="demo",
        )
    return release


def seed(stdout: TextIO) -> None:
    try:
        clinician = User.objects.get(email="clinician1@demo.test")
        patient1 = User.objects.get(email="patient1@demo.test")
        patient2 = User.objects.get(email="patient2@demo.test")
    except User.DoesNotExist:
        stdout.write("  disclosures: demo users missing, skipped\n")
        return
    family = (patient1.full_name.split() or ["Demo"])[-1]
    sister = _signed_release(
        patient1,
        clinician,
        recipient_kind=RecipientKind.FAMILY,
        recipient_name=f"Maya {family}",
        recipient_relationship="sister",
        items=[DisclosureItem.ATTENDANCE, DisclosureItem.TREATMENT_PLAN],
        purpose="To take part in family sessions and support my recovery",
        expiry_event="when I complete the program",
        may_receive_appointment_times=True,
        # The demo's console e-mail shows what she receives (disclosures.appointment_times).
        recipient_email="maya.sister@family.example",
    )
    if not Disclosure.objects.filter(release=sister).exists():
        disclosure_record(
            by=clinician,
            release=sister,
            kind=DisclosureKind.VERBAL,
            description="Attendance so far and the family-session plan, by phone",
            method="phone",
        )
    employer = _signed_release(
        patient2,
        patient2,
        recipient_kind=RecipientKind.EMPLOYER,
        recipient_name="Northwind Logistics HR",
        recipient_relationship="employer",
        items=[DisclosureItem.ATTENDANCE],
        purpose="Return-to-work planning",
        expires_on=timezone.localdate() + dt.timedelta(days=90),
    )
    if not Revocation.objects.filter(release=employer).exists():
        enrollment.consent_revoke(
            patient=patient2,
            release=employer,
            effective_on=enrollment.selectors.patient_today(patient2),
            reason="I told my employer myself.",
        )
    stdout.write(
        f"  disclosures: {ReleaseOfInformation.objects.count()} releases, "
        f"{Disclosure.objects.count()} disclosures logged\n"
    )
