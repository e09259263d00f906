from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from apps.accounts.models import User
from apps.medications.models import Allergy, Medication

pytestmark = pytest.mark.django_db


def test_demo_seeds_lists_prescriber_and_allergy_idempotently():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (Medication.objects.count(), Allergy.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (Medication.objects.count(), Allergy.objects.count()) == counts
    p1 = User.objects.get(email="patient1@demo.test")
    p2 = User.objects.get(email="patient2@demo.test")
    assert Medication.objects.filter(patient=p1).exists()
    assert Medication.objects.filter(patient=p2).exclude(outside_prescriber="").exists()
    assert Allergy.objects.filter(patient=p2).exists()
    assert User.objects.get(email="clinician2@demo.test").clinician_profile.is_prescriber
