"""Personas for every test (as healthchecks' alice/bob/charlie):

- ``program`` and ``other_program``
- ``clinician``: works in ``program``, MFA enrolled
- ``other_clinician``: works in ``other_program`` only
- ``patient``: the member patient, in ``program``
- ``outsider``: a patient in ``other_program``
- ``admin``: role admin with MFA

``login(client, user)`` signs a persona in as a browser would end up (session with MFA done).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import ProgramFactory, admin_user, clinician_in, patient_in

ARTIFACTS = Path(__file__).parent / "test-artifacts"


@pytest.fixture
def program(db):
    return ProgramFactory(name="Evening Adult IOP", slug="evening-adult")


@pytest.fixture
def other_program(db):
    return ProgramFactory(name="Other Clinic IOP", slug="other-clinic")


@pytest.fixture
def clinician(program):
    return clinician_in(program, email="clinician@example.test", full_name="Carla Clinician")


@pytest.fixture
def other_clinician(other_program):
    return clinician_in(other_program, email="other.clinician@example.test", full_name="Oscar Other")


@pytest.fixture
def patient(program, clinician):
    user = patient_in(program, email="patient@example.test", full_name="Pat Member")
    user.patient_profile.primary_clinician = clinician
    user.patient_profile.save(update_fields=["primary_clinician"])
    return user


@pytest.fixture
def outsider(other_program):
    return patient_in(other_program, email="outsider@example.test", full_name="Olive Outsider")


@pytest.fixture
def admin(db):
    return admin_user(email="admin@example.test", full_name="Ada Admin")


@pytest.fixture
def login() -> Callable[[Client, object], Client]:
    def _login(client: Client, user: object) -> Client:
        client.force_login(user)  # type: ignore[arg-type]
        return client

    return _login


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_configure(config: pytest.Config) -> None:
    # Playwright's sync API runs an event loop in the test thread; Django's ORM calls made
    # from test code around it are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
