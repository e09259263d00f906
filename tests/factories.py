"""Shared factories. App-specific factories live in tests/<app>/factories.py."""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress

from apps.accounts.models import Role, User
from apps.accounts.services import profile_ensure
from apps.programs.models import Program, ProgramKind, ProgramStaff

PASSWORD = "correct-horse-battery-9"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Program {n}")
    slug = factory.Sequence(lambda n: f"program-{n}")
    kind = ProgramKind.MENTAL_HEALTH
    clinic_phone = "(555) 010-0199"
    states_served = factory.LazyFunction(lambda: ["CA", "OR", "WA"])
    time_zone = "America/Los_Angeles"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Sequence(lambda n: f"Person Number{n}")
    role = Role.PATIENT
    time_zone = "America/Los_Angeles"

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])
            profile_ensure(user=self)
            EmailAddress.objects.get_or_create(
                user=self, email=self.email, defaults={"verified": True, "primary": True}
            )


def patient_in(program: Program | None, **kwargs: object) -> User:
    user = UserFactory(role=Role.PATIENT, **kwargs)
    if program is not None:
        user.patient_profile.program = program
        user.patient_profile.save(update_fields=["program"])
    return user


def clinician_in(program: Program | None, *, mfa: bool = True, **kwargs: object) -> User:
    user = UserFactory(role=Role.CLINICIAN, **kwargs)
    if program is not None:
        ProgramStaff.objects.create(program=program, user=user)
    if mfa:
        enrol_totp(user)
    return user


def admin_user(*, mfa: bool = True, **kwargs: object) -> User:
    user = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True, **kwargs)
    if mfa:
        enrol_totp(user)
    return user


def enrol_totp(user: User) -> None:
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(user, TOTP_SECRET)
