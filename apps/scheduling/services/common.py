"""What every scheduling service shares: the error type, the staff check, the
program's "today", and the clash check for people taking on more sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.programs.selectors import programs_for_staff
from apps.scheduling.models import APPOINTMENT_HOLDING, Appointment, Session, SessionStatus
from apps.scheduling.selectors import sessions_for_patient

if TYPE_CHECKING:
    from apps.programs.models import Program


class SchedulingError(ValidationError):
    """Bad input or a refused action; the message is safe to show to the user."""


class GroupFullError(SchedulingError):
    """The group has no free seat (and the caller did not ask for the waitlist)."""


def require_staff_of(user: User | None, program: Program) -> None:
    if user is None:
        return  # system callers (tasks, demo data)
    if not programs_for_staff(user=user).filter(pk=program.pk).exists():
        raise SchedulingError(_("You do not work in this program."))


def local_today(tz: Any, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(tz).date()


def group_clash(
    *,
    sessions: QuerySet[Session],
    people: Sequence[User],
    as_member: bool,
) -> str | None:
    """The first of ``sessions`` that overlaps something ``people`` already do: another
    group they facilitate (or attend, ``as_member``) or a held appointment. A sentence
    naming no other patient, or None."""
    overlap = {"starts_at__lt": OuterRef("ends_at"), "ends_at__gt": OuterRef("starts_at")}
    for person in people:
        if as_member:
            groups = sessions_for_patient(patient=person).filter(status=SessionStatus.SCHEDULED)
            holding = Appointment.objects.filter(status__in=APPOINTMENT_HOLDING, patient=person)
        else:
            groups = Session.objects.filter(status=SessionStatus.SCHEDULED).filter(
                Q(facilitator=person) | Q(facilitator__isnull=True, group__facilitators=person)
            )
            holding = Appointment.objects.filter(status__in=APPOINTMENT_HOLDING, clinician=person)
        clash = (
            sessions.filter(status=SessionStatus.SCHEDULED)
            .filter(
                Exists(groups.exclude(group_id=OuterRef("group_id")).filter(**overlap))
                | Exists(holding.filter(**overlap))
            )
            .select_related("group__program")
            .order_by("starts_at")
            .first()
        )
        if clash is not None:
            local = clash.starts_at.astimezone(clash.group.program.time_zone)
            when = local.strftime("%a %d %b %H:%M")
            if as_member:
                return _("The patient already has a group or appointment at %(when)s.") % {
                    "when": when
                }
            return _("%(name)s already runs a group or has an appointment at %(when)s.") % {
                "name": person.first_name_display,
                "when": when,
            }
    return None
