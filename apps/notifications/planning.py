"""The periodic planner: reads other apps' data and writes outbox rows, idempotently.

Runs every minute (beat: ``notifications.plan``). Every row it writes has a dedupe key, so
running it twice — or on two workers at once — writes nothing new. What it plans:

- session and appointment reminders at each member's lead times (24 h and 1 h by default),
  keyed by the start time so a moved session gets fresh reminders and the old ones are
  stopped at send time by the guards below;
- homework overdue notices (the homework app queues "due tomorrow" itself);
- the daily check-in nudge at the patient's chosen local time;
- safety alerts for open flags (a safety net in case the raising code did not call
  ``safety_alert_raise``), with the on-call escalation;
- no-show alerts after a session for members marked absent without excuse;
- on Thursdays (program time), alerts for patients below the weekly hour floor.

Guards registered here re-check at send time that a session is not cancelled or moved,
the membership still gives a seat, the homework is still open, the flag still open.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.notifications import guards
from apps.notifications.models import Kind, NotificationSettings, Outbox
from apps.notifications.rendering import user_zone
from apps.notifications.services import notification_schedule, safety_alert_raise

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger(__name__)

# A reminder whose time passed longer ago than this is not sent late; it is skipped.
LATE_GRACE = dt.timedelta(minutes=3)
DEFAULT_LEADS = (24 * 60, 60)
MAX_LEAD_MINUTES = 7 * 24 * 60
# Reminder rows are written once they fall due within this window (not weeks ahead), so a
# moved or cancelled session leaves few rows behind.
PLAN_AHEAD = dt.timedelta(hours=48)
# Clinicians hear about the weekly hours on Thursdays from this local hour (program zone).
HOURS_CHECK_WEEKDAY = 3
HOURS_CHECK_FROM = dt.time(9, 0)
OVERDUE_NOTICE_AT = dt.time(9, 0)

_START_KEY = "%Y%m%dT%H%MZ"
_SESSION_KEY = re.compile(r"^scheduling\.session:(\d+)@(\d{8}T\d{4}Z)/")
_APPOINTMENT_KEY = re.compile(r"^scheduling\.appointment:(\d+)@(\d{8}T\d{4}Z)/")


def session_reminder_key(session_id: int, starts_at: dt.datetime, lead_minutes: int) -> str:
    stamp = starts_at.astimezone(dt.UTC).strftime(_START_KEY)
    return f"scheduling.session:{session_id}@{stamp}/{lead_minutes}m"


def appointment_reminder_key(appt_id: int, starts_at: dt.datetime, lead_minutes: int) -> str:
    stamp = starts_at.astimezone(dt.UTC).strftime(_START_KEY)
    return f"scheduling.appointment:{appt_id}@{stamp}/{lead_minutes}m"


def _leads_for(settings_row: NotificationSettings | None) -> list[int]:
    raw = settings_row.reminder_leads_minutes if settings_row else list(DEFAULT_LEADS)
    leads = []
    for value in raw or []:
        if isinstance(value, int) and 0 < value <= MAX_LEAD_MINUTES:
            leads.append(value)
    return sorted(set(leads), reverse=True)


def _settings_by_user(user_ids: set[int]) -> dict[int, NotificationSettings]:
    return {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=user_ids)}


def _existing_keys(prefix: str, since: dt.datetime) -> set[tuple[int, str, str]]:
    return set(
        Outbox.objects.filter(event_key__startswith=prefix, created_at__gte=since).values_list(
            "recipient_id", "event_key", "kind"
        )
    )


def plan_session_reminders(*, now: dt.datetime) -> int:
    from apps.accounts.models import User
    from apps.scheduling.models import GroupMembership, MembershipStatus, Session, SessionStatus

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
    settings_map = _settings_by_user(patient_ids)
    users = {u.pk: u for u in User.objects.filter(pk__in=patient_ids, is_active=True)}
    existing = _existing_keys("scheduling.session:", now - dt.timedelta(days=8))
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
            for lead in _leads_for(settings_map.get(patient_id)):
                due = session.starts_at - dt.timedelta(minutes=lead)
                if due < now - LATE_GRACE or due > now + PLAN_AHEAD:
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
                        "link": f"/rooms/{session.pk}/",
                    },
                    due_at=max(due, now),
                )
                created += len(rows)
    return created


def plan_appointment_reminders(*, now: dt.datetime) -> int:
    from apps.scheduling.models import Appointment, AppointmentStatus

    horizon = now + dt.timedelta(minutes=MAX_LEAD_MINUTES) + LATE_GRACE
    appointments = list(
        Appointment.objects.filter(
            status=AppointmentStatus.BOOKED, starts_at__gt=now, starts_at__lte=horizon
        ).select_related("patient")
    )
    if not appointments:
        return 0
    settings_map = _settings_by_user({a.patient_id for a in appointments})
    existing = _existing_keys("scheduling.appointment:", now - dt.timedelta(days=8))
    created = 0
    for appt in appointments:
        if not appt.patient.is_active:
            continue
        for lead in _leads_for(settings_map.get(appt.patient_id)):
            due = appt.starts_at - dt.timedelta(minutes=lead)
            if due < now - LATE_GRACE or due > now + PLAN_AHEAD:
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


def plan_homework_overdue(*, now: dt.datetime) -> int:
    from apps.homework.models import OPEN_STATUSES, Assignment

    created = 0
    recent = (now - dt.timedelta(days=14)).date()
    for assignment in Assignment.objects.filter(
        status__in=OPEN_STATUSES, due_date__isnull=False, due_date__gte=recent
    ).select_related("patient"):
        assert assignment.due_date is not None
        zone = user_zone(assignment.patient)
        local_today = now.astimezone(zone).date()
        if assignment.due_date >= local_today:
            continue
        at = dt.datetime.combine(
            assignment.due_date + dt.timedelta(days=1), OVERDUE_NOTICE_AT, tzinfo=zone
        )
        if at > now:
            continue
        key = f"homework.assignment:{assignment.pk}/overdue"
        if Outbox.objects.filter(recipient=assignment.patient, event_key=key).exists():
            continue
        created += len(
            notification_schedule(
                recipient=assignment.patient,
                kind=Kind.HOMEWORK_OVERDUE,
                event_key=key,
                context={
                    "assignment_id": assignment.pk,
                    "due_on": assignment.due_date,
                    "link": f"/homework/a/{assignment.pk}/",
                },
                due_at=now,
            )
        )
    return created


def checkin_due_at(*, checkin_time: dt.time, zone: zoneinfo.ZoneInfo, day: dt.date) -> dt.datetime:
    """The nudge's instant on local ``day``. A wall-clock time skipped by a spring-forward
    change lands the gap's length later (02:30 → 03:30); a repeated one takes the first."""
    # zoneinfo resolves a non-existent time with the offset from before the change (fold=0),
    # which is exactly "moved forward by the gap"; an ambiguous one takes the earlier instant.
    return dt.datetime.combine(day, checkin_time, tzinfo=zone).astimezone(dt.UTC)


def plan_checkin_nudges(*, now: dt.datetime) -> int:
    from apps.accounts.models import Role

    created = 0
    rows = NotificationSettings.objects.filter(
        checkin_time__isnull=False, user__role=Role.PATIENT, user__is_active=True
    ).select_related("user")
    for row in rows:
        assert row.checkin_time is not None
        zone = user_zone(row.user)
        # The window can straddle the patient's midnight (23:55 with a 00:05 check-in is
        # tomorrow's nudge; 00:01 with 23:59 is yesterday's, still within the grace).
        today = now.astimezone(zone).date()
        for local_day in (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)):
            due = checkin_due_at(checkin_time=row.checkin_time, zone=zone, day=local_day)
            if now - LATE_GRACE <= due <= now + dt.timedelta(hours=1):
                break
        else:
            continue
        key = f"measures.checkin:{row.user_id}@{local_day.isoformat()}"
        if Outbox.objects.filter(recipient_id=row.user_id, event_key=key).exists():
            continue
        created += len(
            notification_schedule(
                recipient=row.user,
                kind=Kind.CHECKIN_NUDGE,
                event_key=key,
                context={"link": "/progress/check-in/"},
                due_at=max(due, now),
            )
        )
    return created


def safety_flag_key(flag_id: int) -> str:
    return f"measures.safetyflag:{flag_id}"


def plan_safety_alerts(*, now: dt.datetime) -> int:
    from apps.measures.models import SafetyFlag

    created = 0
    flags = SafetyFlag.objects.filter(
        acknowledged_at__isnull=True, opened_at__gte=now - dt.timedelta(days=2)
    ).select_related("patient", "patient__patient_profile")
    for flag in flags:
        key = safety_flag_key(flag.pk)
        if Outbox.objects.filter(event_key=key, kind=Kind.SAFETY_ALERT).exists():
            continue
        created += len(
            safety_alert_raise(
                event_key=key,
                patient=flag.patient,
                context={
                    "flag_id": flag.pk,
                    "link": f"/measures/flags/{flag.pk}/",
                    "urgent": flag.severity == "urgent",
                },
                raised_at=flag.opened_at,
            )
        )
    return created


def _clinicians_for(patient: User, facilitator_ids: list[int]) -> list[User]:
    from apps.accounts.models import User

    profile = getattr(patient, "patient_profile", None)
    if profile is not None and profile.primary_clinician_id:
        return [profile.primary_clinician]
    return list(User.objects.filter(pk__in=facilitator_ids, is_active=True))


def plan_no_shows(*, now: dt.datetime) -> int:
    from apps.scheduling.models import Attendance, AttendanceStatus, SessionStatus

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
                        "link": f"/schedule/sessions/{row.session_id}/",
                    },
                )
            )
    return created


def plan_hours_below_floor(*, now: dt.datetime) -> int:
    from apps.accounts.models import User
    from apps.programs.models import Program
    from apps.scheduling.models import MembershipStatus
    from apps.scheduling.selectors import week_start_for, weekly_hours

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
                            "link": "/schedule/",
                        },
                    )
                )
    return created


def _program_clinicians(program: Any) -> list[User]:
    from apps.accounts.models import Role, User

    return list(
        User.objects.filter(
            program_staff__program=program, role=Role.CLINICIAN, is_active=True
        ).distinct()
    )


PLANNERS: dict[str, Callable[..., int]] = {
    "session_reminders": plan_session_reminders,
    "appointment_reminders": plan_appointment_reminders,
    "homework_overdue": plan_homework_overdue,
    "checkin_nudges": plan_checkin_nudges,
    "safety_alerts": plan_safety_alerts,
    "no_shows": plan_no_shows,
    "hours_below_floor": plan_hours_below_floor,
}


def plan_all(*, now: dt.datetime | None = None) -> int:
    """Run every planner, each in its own transaction, so one failing (another app's
    model changed under us) does not stop the others."""
    now = now or timezone.now()
    total = 0
    for name, planner in PLANNERS.items():
        try:
            with transaction.atomic():
                total += planner(now=now)
        except Exception:
            logger.exception("notification planner %s failed", name)
    return total


# --- Send-time guards ---------------------------------------------------------------------


def _parse_stamp(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, _START_KEY).replace(tzinfo=dt.UTC)


def _session_guard(row: Outbox) -> str | None:
    if row.kind != Kind.SESSION_REMINDER:
        return None
    match = _SESSION_KEY.match(row.event_key)
    if match is None:
        return None
    from apps.scheduling.models import GroupMembership, MembershipStatus, Session, SessionStatus

    session = Session.objects.filter(pk=int(match.group(1))).first()
    if session is None or session.status == SessionStatus.CANCELLED:
        return "session cancelled"
    if session.status != SessionStatus.SCHEDULED:
        return "session no longer scheduled"
    if session.starts_at.astimezone(dt.UTC).replace(second=0, microsecond=0) != _parse_stamp(
        match.group(2)
    ):
        return "session moved"
    seated = GroupMembership.objects.filter(
        group_id=session.group_id,
        patient_id=row.recipient_id,
        status=MembershipStatus.ACTIVE,
        from_date__lte=session.occurrence_date,
    ).exclude(to_date__lt=session.occurrence_date)
    if not seated.exists():
        return "membership ended"
    return None


def _appointment_guard(row: Outbox) -> str | None:
    if row.kind != Kind.APPOINTMENT_REMINDER:
        return None
    match = _APPOINTMENT_KEY.match(row.event_key)
    if match is None:
        return None
    from apps.scheduling.models import Appointment, AppointmentStatus

    appt = Appointment.objects.filter(pk=int(match.group(1))).first()
    if appt is None or appt.status != AppointmentStatus.BOOKED:
        return "appointment not booked"
    if appt.starts_at.astimezone(dt.UTC).replace(second=0, microsecond=0) != _parse_stamp(
        match.group(2)
    ):
        return "appointment moved"
    return None


_ASSIGNMENT_KEY = re.compile(r"^homework\.assignment:(\d+)")


def _homework_guard(row: Outbox) -> str | None:
    if row.kind not in (Kind.HOMEWORK_DUE, Kind.HOMEWORK_OVERDUE):
        return None
    match = _ASSIGNMENT_KEY.match(row.event_key)
    if match is None:
        return None
    from apps.homework.models import OPEN_STATUSES, Assignment

    if not Assignment.objects.filter(pk=int(match.group(1)), status__in=OPEN_STATUSES).exists():
        return "homework no longer open"
    return None


_FLAG_KEY = re.compile(r"^measures\.safetyflag:(\d+)")


def _safety_guard(row: Outbox) -> str | None:
    if row.kind not in (Kind.SAFETY_ALERT, Kind.SAFETY_ESCALATION):
        return None
    match = _FLAG_KEY.match(row.event_key)
    if match is None:
        return None
    from apps.measures.models import SafetyFlag

    flag = SafetyFlag.objects.filter(pk=int(match.group(1))).only("acknowledged_at").first()
    if flag is not None and flag.acknowledged_at is not None:
        return "acknowledged"
    return None


_CHECKIN_KEY = re.compile(r"^measures\.checkin:(\d+)@(\d{4}-\d{2}-\d{2})$")


def _checkin_guard(row: Outbox) -> str | None:
    match = _CHECKIN_KEY.match(row.event_key)
    if match is None or row.kind != Kind.CHECKIN_NUDGE:
        return None
    day = dt.date.fromisoformat(match.group(2))
    try:  # the progress app owns the daily check-in
        from apps.progress.selectors import checked_in_on
    except ImportError:
        return None
    return (
        "already checked in today" if checked_in_on(patient_id=row.recipient_id, day=day) else None
    )


def register_guards() -> None:
    guards.register(name="session", prefix="scheduling.session:", guard=_session_guard)
    guards.register(name="appointment", prefix="scheduling.appointment:", guard=_appointment_guard)
    guards.register(name="homework", prefix="homework.assignment:", guard=_homework_guard)
    guards.register(name="safety", prefix="measures.safetyflag:", guard=_safety_guard)
    guards.register(name="checkin", prefix="measures.checkin:", guard=_checkin_guard)
