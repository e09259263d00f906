from __future__ import annotations

import io

import pytest

from apps.diagnoses.models import Diagnosis

pytestmark = pytest.mark.django_db


def test_demo_gives_six_patients_a_primary_and_is_idempotent():
    from apps.accounts import demo as accounts_demo
    from apps.diagnoses import demo

    accounts_demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    count = Diagnosis.objects.count()
    demo.seed(io.StringIO())
    assert Diagnosis.objects.count() == count
    primaries = dict(Diagnosis.objects.filter(rank="primary").values_list("patient__email", "code"))
    assert primaries["patient1@demo.test"] == "F33.1"
    assert primaries["patient3@demo.test"] == "F10.20"
    assert len(primaries) == 6
