"""Reads for scheduling, and the one place its access rules live.

- A patient sees the sessions of groups they are a member of on the session's date
  (``membership_covers``), and their own appointments and attendance.
- A clinician sees the groups, sessions, appointments and attendance of programs they work in
  (``apps.programs.selectors.programs_for_staff``); admins see every program.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.accounts.models import User
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff
from apps.scheduling.models import (
    Appointment,
    Group,
    GroupMembership,
    MembershipStatus,
    Session,
)


def membership_covers(*, date_ref: object, patient_ref: object = None) -> Q:
    """Memberships that gave a patient a seat on ``date``: active, or ended on/after it.
    Waitlisted patients have no seat."""
    q = Q(patient=patient_ref) if patient_ref is not None else Q()
    return (
        q
        & Q(status__in=[MembershipStatus.ACTIVE, MembershipStatus.ENDED])
        & Q(from_date__lte=date_ref)
        & (Q(to_date__isnull=True) | Q(to_date__gte=date_ref))
    )


def _covering_membership_exists(*, patient: User) -> Exists:
    return Exists(
        GroupMembership.objects.filter(
            membership_covers(patient_ref=patient.pk, date_ref=OuterRef("occurrence_date")),
            group=OuterRef("group"),
        )
    )


def sessions_for_patient(
    *,
    patient: User,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> QuerySet[Session]:
    """Sessions (including cancelled ones, so the patient hears of them) of groups the
    patient is a member of on the session's date, optionally starting in [start, end)."""
    if not patient.is_authenticated or not patient.is_patient:
        return Session.objects.none()
    qs = Session.objects.filter(_covering_membership_exists(patient=patient))
    if start is not None:
        qs = qs.filter(starts_at__gte=start)
    if end is not None:
        qs = qs.filter(starts_at__lt=end)
    return qs.select_related("group", "group__program").order_by("starts_at", "id")


def sessions_visible_to(*, user: User) -> QuerySet[Session]:
    """Every session ``user`` may open (patients: their own; staff: their programs')."""
    if not user.is_authenticated:
        return Session.objects.none()
    if user.is_patient:
        return sessions_for_patient(patient=user)
    return Session.objects.filter(group__program__in=programs_for_staff(user=user))


def session_get_for_participant(*, user: User, session_id: int | str) -> Session | None:
    """The session if ``user`` takes part in it, else None (callers answer 404).

    Participants: a patient with a membership covering the session's date (active, or ended
    on/after it; never a waitlisted one), the group's facilitators, the session's covering
    facilitator, and clinicians/admins of the group's program.
    """
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        return None
    if not user.is_authenticated:
        return None
    base = Session.objects.select_related("group", "group__program", "facilitator")
    if user.is_patient:
        return sessions_for_patient(patient=user).filter(pk=pk).first()
    return (
        base.filter(pk=pk)
        .filter(
            Q(group__program__in=programs_for_staff(user=user))
            | Q(group__facilitators=user)
            | Q(facilitator=user)
        )
        .distinct()
        .first()
    )


def session_is_facilitator(*, user: User, session: Session) -> bool:
    """True for the group's facilitators and this session's covering facilitator."""
    if not user.is_authenticated:
        return False
    if session.facilitator_id == user.pk:
        return True
    return session.group.facilitators.filter(pk=user.pk).exists()


def groups_visible_to(*, user: User) -> QuerySet[Group]:
    """Groups a clinician/admin manages (their programs) or a patient belongs to."""
    if not user.is_authenticated:
        return Group.objects.none()
    if user.is_patient:
        return Group.objects.filter(
            memberships__patient=user,
            memberships__status__in=[MembershipStatus.ACTIVE, MembershipStatus.ENDED],
        ).distinct()
    return Group.objects.filter(program__in=programs_for_staff(user=user))


def group_get_for_staff(*, user: User, group_id: int | str) -> Group | None:
    try:
        pk = int(group_id)
    except (TypeError, ValueError):
        return None
    if not user.is_authenticated or user.is_patient:
        return None
    return (
        Group.objects.filter(program__in=programs_for_staff(user=user), pk=pk)
        .select_related("program")
        .first()
    )


def session_get_for_staff(*, user: User, session_id: int | str) -> Session | None:
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        return None
    if not user.is_authenticated or user.is_patient:
        return None
    return (
        Session.objects.filter(group__program__in=programs_for_staff(user=user), pk=pk)
        .select_related("group", "group__program", "facilitator")
        .first()
    )


def program_get_for_staff(*, user: User, program_id: int | str) -> Program | None:
    try:
        pk = int(program_id)
    except (TypeError, ValueError):
        return None
    return programs_for_staff(user=user).filter(pk=pk).first()


def appointments_visible_to(*, user: User) -> QuerySet[Appointment]:
    if not user.is_authenticated:
        return Appointment.objects.none()
    if user.is_patient:
        return Appointment.objects.filter(patient=user)
    return Appointment.objects.filter(program__in=programs_for_staff(user=user))


def appointment_get_for_viewer(*, user: User, appointment_id: int | str) -> Appointment | None:
    try:
        pk = int(appointment_id)
    except (TypeError, ValueError):
        return None
    return (
        appointments_visible_to(user=user)
        .select_related("clinician", "patient", "program")
        .filter(pk=pk)
        .first()
    )


def session_roster(*, session: Session) -> list[User]:
    """The patients with a seat on the session's date, by first name."""
    members = User.objects.filter(
        Exists(
            GroupMembership.objects.filter(
                membership_covers(date_ref=session.occurrence_date),
                group_id=session.group_id,
                patient=OuterRef("pk"),
            )
        )
    )
    return sorted(members, key=lambda u: (u.first_name_display.lower(), u.pk))
