from __future__ import annotations

import io

import pytest

from apps.casemanagement.models import CaseManagerAssignment, Need, Referral, Resource, Task

pytestmark = pytest.mark.django_db


def test_demo_seed_is_complete_and_idempotent():
    from apps.accounts import demo as accounts_demo
    from apps.casemanagement import demo

    accounts_demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    counts = [m.objects.count() for m in (Resource, Referral, Need, Task, CaseManagerAssignment)]
    assert 10 <= counts[0] <= 15
    statuses = set(Referral.objects.values_list("status", flat=True))
    assert statuses == {"proposed", "sent", "accepted", "appointment_made", "completed", "declined"}
    assert set(Referral.objects.values_list("patient__email", flat=True)) == {
        "patient1@demo.test", "patient2@demo.test", "patient3@demo.test"
    }  # fmt: skip
    assert set(CaseManagerAssignment.objects.values_list("case_manager__email", flat=True)) == {
        "clinician2@demo.test"
    }
    assert Task.objects.filter(assignee__role="patient", done_at=None).exists()
    demo.seed(io.StringIO())
    assert counts == [
        m.objects.count() for m in (Resource, Referral, Need, Task, CaseManagerAssignment)
    ]
