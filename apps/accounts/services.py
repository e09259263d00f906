from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.accounts.models import ClinicianProfile, PatientProfile, Role, User
from apps.core.events import group_send_now, send_event_on_commit, user_group

# Close code sent to a socket whose user signed out or whose session expired.
CLOSE_SESSION_ENDED = 4401


def user_sockets_close(*, user_id: int, reason: str) -> None:
    """Tell every open socket of this user (in any daphne process) to close."""
    group_send_now(user_group(user_id), {"type": "session.ended", "reason": reason})


def user_sockets_recheck(*, user_id: int) -> None:
    """Tell every open socket of this user to read its login session again now (after the
    transaction): a changed password or a deactivated account ends it."""
    send_event_on_commit(user_group(user_id), {"type": "session.recheck"})


@transaction.atomic
def user_create(
    *,
    email: str,
    full_name: str,
    role: str = Role.PATIENT,
    password: str | None = None,
    **fields: Any,
) -> User:
    """Create a user with the profile their role needs."""
    user = User.objects.create_user(
        email=email,
        password=password,
        full_name=full_name,
        role=role,
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
        **fields,
    )
    profile_ensure(user=user)
    return user


def profile_ensure(*, user: User) -> None:
    if user.role == Role.PATIENT:
        PatientProfile.objects.get_or_create(user=user)
    elif user.role == Role.CLINICIAN:
        ClinicianProfile.objects.get_or_create(user=user)
