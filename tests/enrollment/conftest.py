import pytest

from tests.factories import patient_in


@pytest.fixture
def applicant(program):
    """A new patient account with no program yet (signed up, about to apply)."""
    return patient_in(None, email="applicant@example.test", full_name="Andy Applicant")
