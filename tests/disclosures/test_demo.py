from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from apps.accounts.models import User
from apps.disclosures.models import Disclosure
from apps.enrollment.models import ReleaseOfInformation, Revocation
from apps.enrollment.selectors import release_is_active

pytestmark = pytest.mark.django_db


def test_demo_seeds_a_family_release_a_disclosure_and_a_revoked_release_idempotently():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (ReleaseOfInformation.objects.count(), Disclosure.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (ReleaseOfInformation.objects.count(), Disclosure.objects.count()) == counts
    p1 = User.objects.get(email="patient1@demo.test")
    p2 = User.objects.get(email="patient2@demo.test")
    sister = ReleaseOfInformation.objects.get(patient=p1)
    assert sister.recipient_relationship == "sister" and sister.may_receive_appointment_times
    assert sister.recipient_email == "maya.sister@family.example"
    assert sister.recipient_email in sister.signed_text
    assert release_is_active(sister)
    assert Disclosure.objects.filter(release=sister).count() == 1
    assert Revocation.objects.filter(release__patient=p2).exists()
