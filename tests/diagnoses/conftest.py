from __future__ import annotations

import pytest

from apps.diagnoses import services
from apps.diagnoses.models import Rank


@pytest.fixture
def primary(patient, clinician):
    return services.diagnosis_add(patient=patient, by=clinician, code="F33.1", rank=Rank.PRIMARY)


@pytest.fixture
def secondary(patient, clinician, primary):
    return services.diagnosis_add(patient=patient, by=clinician, code="F41.1", rank=Rank.SECONDARY)
