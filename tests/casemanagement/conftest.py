"""Case-management personas on top of the root ones:

- ``case_manager``: a clinician who works in NO program, assigned to ``patient`` (sees the
  patient's case management only through the assignment);
- ``other_case_manager``: a clinician in no program, assigned to ``outsider`` only (the
  non-assigned case manager for ``patient``);
- ``resource`` / ``therapist``: directory entries of ``program``.
"""

from __future__ import annotations

import pytest

from apps.casemanagement import services
from apps.casemanagement.models import Resource, ResourceKind
from tests.factories import clinician_in


@pytest.fixture
def case_manager(patient):
    user = clinician_in(None, email="cm@example.test", full_name="Casey Manager")
    services.case_manager_assign(patient=patient, case_manager=user, by=None)
    return user


@pytest.fixture
def other_case_manager(outsider):
    user = clinician_in(None, email="cm.other@example.test", full_name="Otto Casemgr")
    services.case_manager_assign(patient=outsider, case_manager=user, by=None)
    return user


@pytest.fixture
def therapist(program):
    return Resource.objects.create(
        program=program,
        kind=ResourceKind.OUTPATIENT_THERAPIST,
        name="Harbor Light Counseling",
        phone="(555) 010-2101",
        areas_served="Oakland, Berkeley, Telehealth (CA)",
        notes="Intake Tue/Thu.",
    )


@pytest.fixture
def housing(program):
    return Resource.objects.create(
        program=program,
        kind=ResourceKind.HOUSING,
        name="East Bay Housing Navigation",
        areas_served="Berkeley, East Oakland",
    )


@pytest.fixture
def other_resource(other_program):
    return Resource.objects.create(
        program=other_program, kind=ResourceKind.FOOD, name="Elsewhere Pantry"
    )


@pytest.fixture
def referral(patient, clinician, therapist):
    return services.referral_create(
        patient=patient, by=clinician, resource=therapist, reason="Weekly therapy after IOP."
    )


@pytest.fixture
def need(patient, clinician):
    return services.need_create(
        patient=patient, by=clinician, domain="housing", description="Stable housing."
    )


@pytest.fixture
def patient_task(need, clinician, patient):
    return services.task_create(need=need, by=clinician, title="Gather pay stubs", assignee=patient)
