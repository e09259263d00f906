"""Admins edit the resource directory and case-manager assignments in Django admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.casemanagement.models import CaseManagerAssignment, Resource

pytestmark = pytest.mark.django_db


def test_admin_adds_a_directory_entry(client, login, admin, program):
    login(client, admin)
    assert client.get(reverse("admin:casemanagement_resource_changelist")).status_code == 200
    response = client.post(
        reverse("admin:casemanagement_resource_add"),
        {
            "program": program.pk,
            "kind": "food",
            "name": "Corner Pantry",
            "phone": "(555) 010-1111",
            "areas_served": "Oakland , Oakland, Berkeley",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    assert Resource.objects.get().areas_served == "Oakland, Berkeley"


def test_admin_assignment_ends_the_current_one(
    client, login, admin, patient, clinician, case_manager
):
    login(client, admin)
    response = client.post(
        reverse("admin:casemanagement_casemanagerassignment_add"),
        {"patient": patient.pk, "case_manager": clinician.pk},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    current = CaseManagerAssignment.objects.get(patient=patient, ended_at=None)
    assert current.case_manager == clinician and current.assigned_by == admin


def test_clinicians_cannot_use_admin(client, login, clinician):
    login(client, clinician)
    response = client.get(reverse("admin:casemanagement_resource_changelist"))
    assert response.status_code in (302, 403)
