"""What scheduling asks the notifications planner to send, and re-checks at send time:
session and appointment reminders, no-show alerts, the Thursday weekly-hours alert."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from typing import Any

from django.urls import reverse

from apps.accounts.models import Role, User
from apps.notifications import guards
from apps.notifications.models import Kind, Outbox
from apps.notifications.planning import (
    LATE_GRACE,
    MAX_LEAD_MINUTES,
    due_in_window,
    existing_keys,
    leads_for,
    parse_start_stamp,
    register_planner,
    settings_by_user,
    start_stamp,
)
from apps.notifications.services import notification_schedule
from apps.programs.models import Program
from apps.scheduling.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    AttendanceStatus,
    GroupMembership,
    MembershipStatus,
    Session,
    SessionStatus,
)
from apps.scheduling.selectors import week_start_for, weekly_hours

# Clinicians hear about the weekly hours on Thursdays from this local hour (program zone).
HOURS_CHECK_WEEKDAY = 3
HOURS_CHECK_FROM = dt.time(9, 0)

_SESSION_KEY = re.compile(r"^scheduling\.session:(\d+)@(\d{8}T\d{4}Z)/")
_APPOINTMENT_KEY = re.compile(r"^scheduling\.appointment:(\d+)@(\d{8}T\d{4}Z)/")


def session_reminder_key(session_id: int, starts_at: dt.datetime, lead_minutes: int) -> str:
    return f"scheduling.session:{session_id}@{start_stamp(starts_at)}/{lead_minutes}m"


def appointment_reminder_key(appt_id: int, starts_at: dt.datetime, lead_minutes: int) -> str:
    return f"scheduling.appointment:{appt_id}@{start_stamp(starts_at)}/{lead_minutes}m"


def plan_session_reminders(*, now: dt.datetime) -> int:
    horizon = now + dt.timedelta(minutes=MAX_LEAD_MINUTES) + LATE_GRACE
    sessions = list(
        Session.objects.filter(
            status=SessionStatus.SCHEDULED, starts_at__gt=now, starts_at__lte=horizon
        ).only("pk", "group_id", "occurrence_date", "starts_at", "ends_at")
    )
    if not sessions:
        return 0
    members: dict[int, list[tuple[int, dt.date, dt.date | None]]] = defaultdict(list)
    for patient_id, group_id, from_date, to_date in GroupMembership.objects.filter(
        group_id__in={s.group_id for s in sessions}, status=MembershipStatus.ACTIVE
    ).values_list("patient_id", "group_id", "from_date", "to_date"):
        members[group_id].append((patient_id, from_date, to_date))
    patient_ids = {pid for rows in members.values() for pid, _f, _t in rows}
    settings_map = settings_by_user(patient_ids)
    users = {u.pk: u for u in User.objects.filter(pk__in=patient_ids, is_active=True)}
    existing = existing_keys("scheduling.session:", now - dt.timedelta(days=8))
    created = 0
    for session in sessions:
        for patient_id, from_date, to_date in members[session.group_id]:
            if from_date > session.occurrence_date or (
                to_date is not None and to_date < session.occurrence_date
            ):
                continue
            user = users.get(patient_id)
            if user is None:
                continue
            for lead in leads_for(settings_map.get(patient_id)):
                due = session.starts_at - dt.timedelta(minutes=lead)
                if not due_in_window(due, now):
                    continue
                key = session_reminder_key(session.pk, session.starts_at, lead)
                if (patient_id, key, Kind.SESSION_REMINDER) in existing:
                    continue
                rows = notification_schedule(
                    recipient=user,
                    kind=Kind.SESSION_REMINDER,
                    event_key=key,
                    context={
                        "session_id": session.pk,
                        "group_id": session.group_id,
                        "starts_at": session.starts_at,
                        "ends_at": session.ends_at,
                        "link": session.join_url,
                    },
                    due_at=max(due, now),
                )
                created += len(rows)
    return created


def plan_appointment_reminders(*, now: dt.datetime) -> int:
    horizon = now + dt.timedelta(minutes=MAX_LEAD_MINUTES) + LATE_GRACE
    appointments = list(
        Appointment.objects.filter(
            status=AppointmentStatus.BOOKED, starts_at__gt=now, starts_at__lte=horizon
        ).select_related("patient")
    )
    if not appointments:
        return 0
    settings_map = settings_by_user({a.patient_id for a in appointments})
    existing = existing_keys("scheduling.appointment:", now - dt.timedelta(days=8))
    created = 0
    for appt in appointments:
        if not appt.patient.is_active:
            continue
        for lead in leads_for(settings_map.get(appt.patient_id)):
            due = appt.starts_at - dt.timedelta(minutes=lead)
            if not due_in_window(due, now):
                continue
            key = appointment_reminder_key(appt.pk, appt.starts_at, lead)
            if (appt.patient_id, key, Kind.APPOINTMENT_REMINDER) in existing:
                continue
            created += len(
                notification_schedule(
                    recipient=appt.patient,
                    kind=Kind.APPOINTMENT_REMINDER,
                    event_key=key,
                    context={
                        "appointment_id": appt.pk,
                        "starts_at": appt.starts_at,
                        "ends_at": appt.ends_at,
                        "link": appt.join_url,
                    },
                    due_at=max(due, now),
                )
            )
    return created


def _clinicians_for(patient: User, facilitator_ids: list[int]) -> list[User]:
    profile = getattr(patient, "patient_profile", None)
    if profile is not None and profile.primary_clinician_id:
        return [profile.primary_clinician]
    return list(User.objects.filter(pk__in=facilitator_ids, is_active=True))


def plan_no_shows(*, now: dt.datetime) -> int:
    created = 0
    absent = Attendance.objects.filter(
        status=AttendanceStatus.ABSENT,
        session__status__in=[SessionStatus.SCHEDULED, SessionStatus.COMPLETED],
        session__ends_at__lte=now,
        session__ends_at__gte=now - dt.timedelta(days=2),
    ).select_related("patient", "patient__patient_profile__primary_clinician", "session")
    for row in absent:
        key = f"scheduling.session:{row.session_id}/noshow:{row.patient_id}"
        if Outbox.objects.filter(event_key=key, kind=Kind.NO_SHOW).exists():
            continue
        facilitators = list(row.session.group.facilitators.values_list("pk", flat=True))
        for clinician in _clinicians_for(row.patient, facilitators):
            created += len(
                notification_schedule(
                    recipient=clinician,
                    kind=Kind.NO_SHOW,
                    event_key=key,
                    context={
                        "session_id": row.session_id,
                        "patient_id": row.patient_id,
                        "link": reverse(
                            "scheduling:session_detail", kwargs={"session_id": row.session_id}
                        ),
                    },
                )
            )
    return created


def plan_hours_below_floor(*, now: dt.datetime) -> int:
    created = 0
    for program in Program.objects.filter(is_active=True):
        local = now.astimezone(zoneinfo.ZoneInfo(str(program.time_zone)))
        if local.weekday() != HOURS_CHECK_WEEKDAY or local.time() < HOURS_CHECK_FROM:
            continue
        week_start = week_start_for(local.date())
        patients = list(
            User.objects.filter(
                patient_profile__program=program,
                is_active=True,
                group_memberships__status=MembershipStatus.ACTIVE,
            )
            .select_related("patient_profile__primary_clinician")
            .distinct()
        )
        if not patients:
            continue
        done = set(
            Outbox.objects.filter(
                event_key__startswith="scheduling.weekly_hours:",
                event_key__endswith=f"@{week_start.isoformat()}",
                kind=Kind.HOURS_BELOW_FLOOR,
            ).values_list("event_key", flat=True)
        )
        for hours in weekly_hours(
            patients=patients, program=program, week_start=week_start, now=now
        ):
            if not hours.behind:  # on track or met: nothing to act on (floor_status)
                continue
            key = f"scheduling.weekly_hours:{hours.patient.pk}@{week_start.isoformat()}"
            if key in done:
                continue
            for clinician in _clinicians_for(hours.patient, []) or _program_clinicians(program):
                created += len(
                    notification_schedule(
                        recipient=clinician,
                        kind=Kind.HOURS_BELOW_FLOOR,
                        event_key=key,
                        context={
                            "patient_id": hours.patient.pk,
                            "program_id": program.pk,
                            "link": reverse("scheduling:my_week"),
                        },
                    )
                )
    return created


def _program_clinicians(program: Any) -> list[User]:
    return list(
        User.objects.filter(
            program_staff__program=program, role=Role.CLINICIAN, is_active=True
        ).distinct()
    )


def session_reminder_stale(*, session_id: int, patient_id: int, stamp: dt.datetime) -> str | None:
    """Why a reminder of ``session_id`` at ``stamp`` for ``patient_id`` must not go out now
    (cancelled, moved, the seat ended), or None. Any reminder of a group session asks this
    (the patient's own, and disclosures' to a family member)."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None or session.status == SessionStatus.CANCELLED:
        return "session cancelled"
    if session.status != SessionStatus.SCHEDULED:
        return "session no longer scheduled"
    if session.starts_at.astimezone(dt.UTC).replace(second=0, microsecond=0) != stamp:
        return "session moved"
    seated = GroupMembership.objects.filter(
        group_id=session.group_id,
        patient_id=patient_id,
        status=MembershipStatus.ACTIVE,
        from_date__lte=session.occurrence_date,
    ).exclude(to_date__lt=session.occurrence_date)
    if not seated.exists():
        return "membership ended"
    return None


def appointment_reminder_stale(
    *, appointment_id: int, patient_id: int, stamp: dt.datetime
) -> str | None:
    """As ``session_reminder_stale``, for an individual appointment."""
    appt = Appointment.objects.filter(pk=appointment_id, patient_id=patient_id).first()
    if appt is None or appt.status != AppointmentStatus.BOOKED:
        return "appointment not booked"
    if appt.starts_at.astimezone(dt.UTC).replace(second=0, microsecond=0) != stamp:
        return "appointment moved"
    return None


def session_guard(row: Outbox) -> str | None:
    if row.kind != Kind.SESSION_REMINDER:
        return None
    match = _SESSION_KEY.match(row.event_key)
    if match is None:
        return None
    return session_reminder_stale(
        session_id=int(match.group(1)),
        patient_id=row.recipient_id,
        stamp=parse_start_stamp(match.group(2)),
    )


def appointment_guard(row: Outbox) -> str | None:
    if row.kind != Kind.APPOINTMENT_REMINDER:
        return None
    match = _APPOINTMENT_KEY.match(row.event_key)
    if match is None:
        return None
    return appointment_reminder_stale(
        appointment_id=int(match.group(1)),
        patient_id=row.recipient_id,
        stamp=parse_start_stamp(match.group(2)),
    )


def register() -> None:
    register_planner("session_reminders", plan_session_reminders)
    register_planner("appointment_reminders", plan_appointment_reminders)
    register_planner("no_shows", plan_no_shows)
    register_planner("hours_below_floor", plan_hours_below_floor)
    guards.register(name="session", prefix="scheduling.session:", guard=session_guard)
    guards.register(name="appointment", prefix="scheduling.appointment:", guard=appointment_guard)
