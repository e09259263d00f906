"""Clinicians' open hours and individual appointments: book, request, move, cancel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.selectors import patients_in_treatment
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.notifications.services import notification_schedule
from apps.programs.selectors import programs_for_staff
from apps.scheduling.models import (
    APPOINTMENT_HOLDING,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    AvailabilityException,
    ClinicianAvailability,
    Session,
    SessionStatus,
)
from apps.scheduling.selectors import sessions_for_patient
from apps.scheduling.services.common import SchedulingError, require_staff_of

if TYPE_CHECKING:
    from apps.programs.models import Program


def _overlaps(windows: Sequence[tuple[int, dt.time, dt.time]]) -> bool:
    by_day: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for weekday, start, end in windows:
        by_day.setdefault(weekday, []).append((start, end))
    for spans in by_day.values():
        spans.sort()
        for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                return True
    return False


@transaction.atomic
def availability_set(
    *, clinician: User, by: User, windows: Sequence[tuple[int, dt.time, dt.time]]
) -> list[ClinicianAvailability]:
    """Replace a clinician's weekly hours (wall-clock in the clinician's zone)."""
    if by.pk != clinician.pk and not by.is_program_admin:
        raise SchedulingError(_("You can only edit your own availability."))
    if not clinician.is_clinician:
        raise SchedulingError(_("Only clinicians have availability."))
    for weekday, start, end in windows:
        if not 0 <= int(weekday) <= 6:
            raise SchedulingError(_("Choose a day of the week."))
        if end <= start:
            raise SchedulingError(_("The end is before the start."))
    if _overlaps(windows):
        raise SchedulingError(_("Two of your open hours overlap on the same day."))
    ClinicianAvailability.objects.filter(clinician=clinician).delete()
    created = ClinicianAvailability.objects.bulk_create(
        ClinicianAvailability(clinician=clinician, weekday=int(w), start_time=s, end_time=e)
        for w, s, e in windows
    )
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        object_type="scheduling.clinicianavailability",
        object_id=clinician.pk,
        detail="availability set",
    )
    return created


@transaction.atomic
def availability_exception_add(
    *,
    clinician: User,
    by: User,
    date: dt.date,
    start_time: dt.time | None = None,
    end_time: dt.time | None = None,
    reason: str = "",
) -> AvailabilityException:
    if by.pk != clinician.pk and not by.is_program_admin:
        raise SchedulingError(_("You can only edit your own availability."))
    if (start_time is None) != (end_time is None):
        raise SchedulingError(_("Give both a start and an end, or neither for the whole day."))
    if start_time and end_time and end_time <= start_time:
        raise SchedulingError(_("The end is before the start."))
    return AvailabilityException.objects.create(
        clinician=clinician,
        date=date,
        start_time=start_time,
        end_time=end_time,
        reason=reason[:120],
    )


def _within_availability(clinician: User, starts_at: dt.datetime, ends_at: dt.datetime) -> bool:
    tz = clinician.time_zone
    local_start, local_end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    if local_start.date() != local_end.date() and local_end.time() != dt.time(0):
        return False
    day = local_start.date()
    end_time = local_end.time() if local_end.date() == day else dt.time.max
    inside = ClinicianAvailability.objects.filter(
        clinician=clinician,
        weekday=day.weekday(),
        start_time__lte=local_start.time(),
        end_time__gte=end_time,
    ).exists()
    if not inside:
        return False
    blocked = AvailabilityException.objects.filter(clinician=clinician, date=day).filter(
        Q(start_time__isnull=True)
        | (Q(start_time__lt=end_time) & Q(end_time__gt=local_start.time()))
    )
    return not blocked.exists()


def conflicts_for(
    *,
    clinician: User | None,
    patient: User | None,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    exclude_appointment_id: int | None = None,
) -> list[str]:
    """What already occupies the clinician or the patient in [starts_at, ends_at): other
    booked/requested appointments and scheduled group sessions (facilitated, or attended as
    a member). Messages name no other patient."""
    problems: list[str] = []
    overlap = Q(starts_at__lt=ends_at) & Q(ends_at__gt=starts_at)
    appts = Appointment.objects.filter(overlap, status__in=APPOINTMENT_HOLDING)
    if exclude_appointment_id:
        appts = appts.exclude(pk=exclude_appointment_id)
    if clinician is not None:
        if appts.filter(clinician=clinician).exists():
            problems.append(_("The clinician has another appointment at that time."))
        if (
            Session.objects.filter(overlap, status=SessionStatus.SCHEDULED)
            .filter(
                Q(facilitator=clinician)
                | Q(facilitator__isnull=True, group__facilitators=clinician)
            )
            .exists()
        ):
            problems.append(_("The clinician is running a group at that time."))
    if patient is not None:
        if appts.filter(patient=patient).exists():
            problems.append(_("The patient has another appointment at that time."))
        if (
            sessions_for_patient(patient=patient)
            .filter(overlap, status=SessionStatus.SCHEDULED)
            .exists()
        ):
            problems.append(_("The patient has a group at that time."))
    return problems


def _check_bookable(
    *,
    clinician: User,
    patient: User,
    program: Program,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    now: dt.datetime,
    exclude_appointment_id: int | None = None,
) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise SchedulingError(_("Times must carry a time zone."))
    if ends_at <= starts_at:
        raise SchedulingError(_("The end is before the start."))
    if ends_at - starts_at > dt.timedelta(hours=4):
        raise SchedulingError(_("An appointment lasts at most 4 hours."))
    if starts_at < now:
        raise SchedulingError(_("That time is in the past."))
    if (
        not clinician.is_clinician
        or not programs_for_staff(user=clinician).filter(pk=program.pk).exists()
    ):
        raise SchedulingError(_("Choose a clinician of the patient's program."))
    if not _within_availability(clinician, starts_at, ends_at):
        raise SchedulingError(_("That time is outside the clinician's open hours."))
    problems = conflicts_for(
        clinician=clinician,
        patient=patient,
        starts_at=starts_at,
        ends_at=ends_at,
        exclude_appointment_id=exclude_appointment_id,
    )
    if problems:
        raise SchedulingError(" ".join(problems))


def _lock_people(*people: User) -> None:
    """Serialise bookings for these people (ids in order, so no deadlock)."""
    list(User.objects.select_for_update().filter(pk__in=[p.pk for p in people]).order_by("pk"))


def _patient_program(patient: User) -> Program:
    profile = getattr(patient, "patient_profile", None)
    if not patient.is_patient or profile is None or profile.program is None:
        raise SchedulingError(_("The patient is not enrolled in a program."))
    return profile.program


@transaction.atomic
def appointment_book(
    *,
    clinician: User,
    patient: User,
    kind: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    by: User,
    now: dt.datetime | None = None,
    program: Program | None = None,
) -> Appointment:
    """Book an appointment directly (a clinician or admin of the patient's program) or
    request one (the patient themselves: status "requested" until the clinician confirms).
    Either way the time must be in the clinician's open hours and clash with nothing.

    ``program``: for an applicant's intake, the program they applied to (they have none
    yet); every other booking is in the patient's own program."""
    if program is None or kind != AppointmentKind.INTAKE:
        program = _patient_program(patient)
    if kind not in AppointmentKind.values:
        raise SchedulingError(_("Choose the kind of appointment."))
    if kind != AppointmentKind.INTAKE and not _in_treatment(patient):
        # Discharged, withdrawn or not yet admitted: only an intake (a readmission starts
        # with one) may be booked.
        raise SchedulingError(_("This person is not in treatment: only an intake can be booked."))
    if by.is_patient:
        if by.pk != patient.pk:
            raise SchedulingError(_("You can only request your own appointments."))
        status = AppointmentStatus.REQUESTED
    else:
        require_staff_of(by, program)
        status = AppointmentStatus.BOOKED
    _lock_people(clinician, patient)
    _check_bookable(
        clinician=clinician,
        patient=patient,
        program=program,
        starts_at=starts_at,
        ends_at=ends_at,
        now=now or timezone.now(),
    )
    appointment = Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
        created_by=by,
    )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=appointment, patient=patient, detail=status
    )
    return appointment


def _require_may_change(appointment: Appointment, by: User) -> None:
    if by.is_patient:
        if by.pk != appointment.patient_id:
            raise SchedulingError(_("This is not your appointment."))
    else:
        require_staff_of(by, appointment.program)


@transaction.atomic
def appointment_reschedule(
    *,
    appointment: Appointment,
    by: User,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Appointment:
    """Move an appointment to another open slot. A patient's move becomes a request again."""
    _require_may_change(appointment, by)
    appointment = (
        Appointment.objects.select_for_update()
        .select_related("clinician", "patient", "program")
        .get(pk=appointment.pk)
    )
    if appointment.status not in APPOINTMENT_HOLDING:
        raise SchedulingError(_("Only a booked or requested appointment can be moved."))
    ends_at = ends_at or starts_at + (appointment.ends_at - appointment.starts_at)
    _lock_people(appointment.clinician, appointment.patient)
    _check_bookable(
        clinician=appointment.clinician,
        patient=appointment.patient,
        program=appointment.program,
        starts_at=starts_at,
        ends_at=ends_at,
        now=now or timezone.now(),
        exclude_appointment_id=appointment.pk,
    )
    appointment.starts_at, appointment.ends_at = starts_at, ends_at
    if by.is_patient:
        appointment.status = AppointmentStatus.REQUESTED
    appointment.save(update_fields=["starts_at", "ends_at", "status", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=appointment,
        patient=appointment.patient,
        detail="rescheduled",
    )
    return appointment


@transaction.atomic
def appointment_set_status(
    *, appointment: Appointment, by: User, status: str, reason: str = ""
) -> Appointment:
    """Confirm a request, cancel, or record completed / no-show. Patients may only cancel."""
    _require_may_change(appointment, by)
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    allowed: dict[str, set[str]] = {
        AppointmentStatus.REQUESTED: {AppointmentStatus.BOOKED, AppointmentStatus.CANCELLED},
        AppointmentStatus.BOOKED: {
            AppointmentStatus.CANCELLED,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.NO_SHOW,
        },
    }
    if status not in allowed.get(appointment.status, set()):
        raise SchedulingError(_("That change is not possible for this appointment."))
    if by.is_patient and status != AppointmentStatus.CANCELLED:
        raise SchedulingError(_("You can only cancel an appointment."))
    if status in (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW) and (
        appointment.starts_at > timezone.now()
    ):
        raise SchedulingError(_("This appointment has not happened yet."))
    appointment.status = status
    appointment.cancel_reason = (
        reason.strip()[:200] if status == AppointmentStatus.CANCELLED else ""
    )
    appointment.save(update_fields=["status", "cancel_reason", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=appointment,
        patient=appointment.patient,
        detail=status,
    )
    return appointment


def _in_treatment(patient: User) -> bool:
    return patients_in_treatment(User.objects.filter(pk=patient.pk)).exists()


@transaction.atomic
def appointments_cancel_for_patient(
    *, patient: User, by: User | None, reason: str, now: dt.datetime | None = None
) -> int:
    """Cancel every requested or booked appointment of ``patient`` not yet started (at
    discharge or withdrawal), telling the patient of each; their reminders stop at send time
    (the appointment guard). Returns how many were cancelled."""
    now = now or timezone.now()
    appointments = list(
        Appointment.objects.select_for_update().filter(
            patient=patient, status__in=APPOINTMENT_HOLDING, starts_at__gt=now
        )
    )
    for appointment in appointments:
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancel_reason = reason[:200]
        appointment.save(update_fields=["status", "cancel_reason", "updated_at"])
        audit_record(
            actor=by,
            action=AuditAction.TRANSITION,
            obj=appointment,
            patient=patient,
            detail=f"cancelled: {reason}"[:200],
        )
        if patient.is_active:
            notification_schedule(
                recipient=patient,
                kind="session_cancelled",
                event_key=f"scheduling.appointment:{appointment.pk}/cancelled",
                context={
                    "appointment_id": appointment.pk,
                    "starts_at": appointment.starts_at,
                    "link": reverse("scheduling:my_week"),
                },
            )
    return len(appointments)
