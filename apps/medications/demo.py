"""Demo medications: clinician2 prescribes (psychiatric NP); patient1 and patient2 have
lists, one medication from an outside prescriber, one patient-reported medication waiting for
review, and an allergy. Idempotent: every row has a stable form token (client_id)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import ClinicianProfile, PrescriberRole, User
from apps.medications import services
from apps.medications.models import Allergy, Medication

NAMESPACE = uuid.UUID("0b6f3f8e-2b9e-4c59-9d0a-6f4f0e7f9a21")


def _key(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def seed(stdout: TextIO) -> None:
    try:
        prescriber = User.objects.get(email="clinician2@demo.test")
        patient1 = User.objects.get(email="patient1@demo.test")
        patient2 = User.objects.get(email="patient2@demo.test")
    except User.DoesNotExist:
        stdout.write("  medications: demo users missing, skipped\n")
        return
    ClinicianProfile.objects.update_or_create(
        user=prescriber, defaults={"prescriber_role": PrescriberRole.PSYCH_NP}
    )
    today = timezone.localdate()
    weeks_ago = (today - dt.timedelta(days=42)).isoformat()
    services.medication_add(
        patient=patient1,
        by=prescriber,
        client_id=_key("p1", "sertraline"),
        data={
            "name": "Sertraline",
            "dose": "100 mg",
            "route": "oral",
            "frequency": "once daily in the morning",
            "status": "active",
            "prescriber": str(prescriber.pk),
            "start_date": weeks_ago,
            "reason": "Depression",
        },
    )
    services.medication_add(
        patient=patient1,
        by=prescriber,
        client_id=_key("p1", "trazodone"),
        data={
            "name": "Trazodone",
            "dose": "50 mg",
            "route": "oral",
            "frequency": "at bedtime as needed",
            "status": "on_hold",
            "prescriber": str(prescriber.pk),
            "start_date": weeks_ago,
            "reason": "Sleep",
        },
    )
    services.medication_report(
        patient=patient1,
        client_id=_key("p1", "ibuprofen"),
        data={"name": "Ibuprofen", "dose": "200 mg", "route": "oral", "frequency": "as needed"},
    )
    services.medication_add(
        patient=patient2,
        by=prescriber,
        client_id=_key("p2", "naltrexone"),
        data={
            "name": "Naltrexone",
            "dose": "50 mg",
            "route": "oral",
            "frequency": "once daily",
            "status": "active",
            "outside_prescriber": "Dr. Rivera, Eastside Family Medicine",
            "start_date": (today - dt.timedelta(days=90)).isoformat(),
            "reason": "Alcohol use disorder",
        },
    )
    services.allergy_add(
        patient=patient2,
        by=prescriber,
        client_id=_key("p2", "penicillin"),
        data={
            "substance": "Penicillin",
            "kind": "allergy",
            "reaction": "Hives",
            "severity": "moderate",
        },
    )
    stdout.write(
        f"  medications: {Medication.objects.count()} medications, "
        f"{Allergy.objects.count()} allergies\n"
    )
