from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField
from timezone_field import TimeZoneField


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient")
    CLINICIAN = "clinician", _("Clinician")
    ADMIN = "admin", _("Program admin")


STAFF_ROLES = frozenset({Role.CLINICIAN, Role.ADMIN})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Role.ADMIN)
        return self._create_user(email, password, **extra)


def _default_time_zone() -> str:
    return settings.CLINIC_TIME_ZONE


class User(AbstractUser):
    """One account per person (HIPAA unique user identification); e-mail is the login."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150)
    preferred_name = models.CharField(
        _("preferred name"),
        max_length=60,
        blank=True,
        help_text=_("What you like to be called. Shown to your group instead of your full name."),
    )
    pronouns = models.CharField(_("pronouns"), max_length=40, blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    time_zone = TimeZoneField(_("time zone"), default=_default_time_zone, use_pytz=False)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.PATIENT)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        ordering = ["full_name", "email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def first_name_display(self) -> str:
        """The only name shown to other patients: preferred name, else the first given name."""
        if self.preferred_name:
            return self.preferred_name
        return (self.full_name or "").split(" ")[0] or str(_("Member"))

    def get_short_name(self) -> str:
        return self.first_name_display

    def get_full_name(self) -> str:
        return self.full_name

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_clinician(self) -> bool:
        return self.role == Role.CLINICIAN

    @property
    def is_program_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES


class PatientProfile(models.Model):
    """A patient's place in the clinic: which program, who their primary clinician is."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_profile"
    )
    program = models.ForeignKey(
        "programs.Program",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="patients",
        help_text=_("The program the patient applied to or is enrolled in."),
    )
    primary_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="primary_patients",
        limit_choices_to={"role": Role.CLINICIAN},
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Patient profile of {self.user}"


class PrescriberRole(models.TextChoices):
    """Clinicians who may prescribe, and so manage a patient's medications."""

    NONE = "", _("Not a prescriber")
    PSYCHIATRIST = "psychiatrist", _("Psychiatrist")
    PSYCH_NP = "psych_np", _("Psychiatric nurse practitioner")


class ClinicianProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clinician_profile"
    )
    credentials = models.CharField(
        _("credentials"), max_length=60, blank=True, help_text="LCSW, PsyD…"
    )
    title = models.CharField(_("title"), max_length=100, blank=True)
    prescriber_role = models.CharField(
        _("prescriber"),
        max_length=20,
        choices=PrescriberRole.choices,
        blank=True,
        default=PrescriberRole.NONE,
        help_text=_("Psychiatrists and psychiatric NPs prescribe and manage medications."),
    )

    def __str__(self) -> str:
        return f"Clinician profile of {self.user}"

    @property
    def is_prescriber(self) -> bool:
        return bool(self.prescriber_role)


class LoginAttempt(models.Model):
    """A failed login, for admins to see (allauth rate-limits them; this makes them visible)."""

    email = models.CharField(max_length=254, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"Failed login for {self.email} at {self.at:%Y-%m-%d %H:%M}"
