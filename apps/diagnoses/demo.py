"""Demo diagnoses: patient1..6 get a primary diagnosis and some secondaries, entered by
their primary clinician through the real services (so codes are checked against the code
set), and a level-of-care justification. Idempotent: a patient with any diagnosis is left
as they are."""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.diagnoses import services
from apps.diagnoses.models import Diagnosis, LevelOfCareJustification, Rank

# (primary, secondaries, months since onset)
PLAN: dict[int, tuple[str, list[str], int]] = {
    1: ("F33.1", ["F41.1"], 14),
    2: ("F41.1", ["F51.01"], 8),
    3: ("F10.20", ["F32.A"], 30),
    4: ("F43.10", ["F33.1", "Z63.0"], 20),
    5: ("F31.81", [], 36),
    6: ("F60.3", ["F43.10"], 48),
}

LOC = (
    "Moderate to severe symptoms with impaired work and home functioning despite weekly "
    "outpatient therapy; needs 9+ hours a week of structured groups and skills practice. "
    "Step down to weekly therapy when scores reach the mild range for two weeks and "
    "functioning returns."
)


def seed(stdout: TextIO) -> None:
    today = timezone.localdate()
    added = 0
    for number, (primary, secondaries, months) in PLAN.items():
        patient = (
            User.objects.filter(email=f"patient{number}@demo.test")
            .select_related("patient_profile__primary_clinician")
            .first()
        )
        if patient is None or Diagnosis.objects.filter(patient=patient).exists():
            continue
        clinician = patient.patient_profile.primary_clinician
        if clinician is None:
            continue
        onset = today - dt.timedelta(days=30 * months)
        services.diagnosis_add(
            patient=patient, by=clinician, code=primary, rank=Rank.PRIMARY, onset_date=onset
        )
        added += 1
        for code in secondaries:
            services.diagnosis_add(
                patient=patient,
                by=clinician,
                code=code,
                rank=Rank.SECONDARY,
                onset_date=onset + dt.timedelta(days=60),
            )
            added += 1
        if not LevelOfCareJustification.objects.filter(patient=patient).exists():
            services.level_of_care_record(
                patient=patient, by=clinician, text=LOC, effective_date=today - dt.timedelta(days=7)
            )
    stdout.write(f"  diagnoses: {added} added\n")
