"""Demo people and the demo program. Idempotent: running it twice changes nothing."""

from __future__ import annotations

from typing import TextIO

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP

from apps.accounts.models import PatientProfile, Role, User
from apps.accounts.services import profile_ensure
from apps.programs.models import Program, ProgramKind, ProgramStaff

DEMO_PASSWORD = "demo-pass-1234"
# Fixed and documented (README) so anyone can sign in as staff: `oathtool --totp -b SECRET`.
DEMO_TOTP_SECRET = "VIRTUALIOPDEMOSTAFFSECRETKEYAAAA"

PATIENT_NAMES = [
    ("Alex Rivera", "Alex", "they/them"),
    ("Jordan Lee", "", "he/him"),
    ("Sam Patel", "Sammy", "she/her"),
    ("Taylor Brooks", "", ""),
    ("Morgan Chen", "", "she/her"),
    ("Casey Nguyen", "", "he/him"),
    ("Riley Johnson", "", ""),
    ("Jamie Garcia", "Jay", "they/them"),
    ("Avery Thompson", "", "she/her"),
    ("Drew Martinez", "", "he/him"),
    ("Quinn Walker", "", ""),
    ("Parker Davis", "", "he/him"),
]
PATIENT_ZONES = ["America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York"]


def _person(email: str, full_name: str, role: str, **extra: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email,
            password=DEMO_PASSWORD,
            full_name=full_name,
            role=role,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
            **extra,
        )
    profile_ensure(user=user)
    EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def _enrol_totp(user: User) -> None:
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, DEMO_TOTP_SECRET)
        RecoveryCodes.activate(user)


def seed(stdout: TextIO) -> None:
    program, _ = Program.objects.get_or_create(
        slug="adult-iop",
        defaults={
            "name": "Adult Mental Health & Recovery IOP",
            "kind": ProgramKind.MENTAL_HEALTH,
            "description": "Evening and morning tracks for adults, 9 hours a week for 8 weeks.",
            "clinic_phone": "(555) 010-0100",
            "states_served": ["CA", "OR", "WA", "NV", "AZ", "CO", "TX", "IL", "NY"],
            "time_zone": "America/Los_Angeles",
        },
    )
    admin = _person("admin@demo.test", "Dana Admin", Role.ADMIN)
    clinicians = [
        _person("clinician1@demo.test", "Dr. Maya Okafor", Role.CLINICIAN, preferred_name="Maya"),
        _person(
            "clinician2@demo.test", "Luis Fernandez, PMHNP", Role.CLINICIAN, preferred_name="Luis"
        ),
    ]
    for index, clinician in enumerate(clinicians):
        ProgramStaff.objects.get_or_create(
            program=program, user=clinician, defaults={"on_call": index == 0}
        )
    for staff in (admin, *clinicians):
        _enrol_totp(staff)
    for number, (name, preferred, pronouns) in enumerate(PATIENT_NAMES, start=1):
        patient = _person(
            f"patient{number}@demo.test",
            name,
            Role.PATIENT,
            preferred_name=preferred,
            pronouns=pronouns,
            time_zone=PATIENT_ZONES[number % len(PATIENT_ZONES)],
        )
        PatientProfile.objects.filter(user=patient, program__isnull=True).update(
            program=program, primary_clinician=clinicians[number % 2]
        )
    stdout.write(f"  accounts: {User.objects.count()} users, program '{program.name}'\n")
