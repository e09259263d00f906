"""Reads about programs, and the one place that decides which programs a user works in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from apps.programs.models import Program

if TYPE_CHECKING:
    from apps.accounts.models import User


def programs_for_staff(*, user: User) -> QuerySet[Program]:
    """Programs whose patients this user may see. Admins see every program."""
    if not user.is_authenticated:
        return Program.objects.none()
    if user.role == "admin":
        return Program.objects.all()
    if user.role == "clinician":
        return Program.objects.filter(staff__user=user)
    return Program.objects.none()
