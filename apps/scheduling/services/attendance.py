"""Attendance: presence reported by the rooms, location at join, and the facilitator's
confirmation of the roster."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.scheduling.models import (
    Attendance,
    AttendanceSource,
    AttendanceStatus,
    PatientLocation,
    Session,
    SessionStatus,
)
from apps.scheduling.selectors import session_roster, sessions_for_patient
from apps.scheduling.services.common import SchedulingError, require_staff_of

# Attendance rules of thumb for the automatic pre-fill (the facilitator confirms).
LATE_AFTER = dt.timedelta(minutes=10)
LEFT_EARLY_BEFORE = dt.timedelta(minutes=15)


def _merge_minutes(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    total = dt.timedelta()
    current_start: dt.datetime | None = None
    current_end: dt.datetime | None = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        total += current_end - current_start
    return int(total.total_seconds() // 60)


def _presence_summary(
    session: Session, presence: list[list[str | None]], now: dt.datetime
) -> tuple[int, str, dt.datetime | None, dt.datetime | None]:
    clipped = []
    joins, leaves = [], []
    still_here = False
    for joined_raw, left_raw in presence:
        joined = dt.datetime.fromisoformat(str(joined_raw))
        left = dt.datetime.fromisoformat(left_raw) if left_raw else None
        joins.append(joined)
        if left is None:
            still_here = True
        else:
            leaves.append(left)
        end = min(left or now, session.ends_at)
        start = max(joined, session.starts_at)
        if end > start:
            clipped.append((start, end))
    minutes = _merge_minutes(clipped)
    first = min(joins) if joins else None
    last = None if still_here or not leaves else max(leaves)
    if first is not None and first > session.starts_at + LATE_AFTER:
        status = AttendanceStatus.LATE
    elif last is not None and last < session.ends_at - LEFT_EARLY_BEFORE and now >= last:
        status = AttendanceStatus.LEFT_EARLY
    else:
        status = AttendanceStatus.PRESENT
    return minutes, status, first, last


def _member_of(session: Session, patient: User) -> bool:
    """Attendance is kept for the session's member patients only (not its facilitators)."""
    return bool(getattr(patient, "is_patient", False)) and (
        sessions_for_patient(patient=patient).filter(pk=session.pk).exists()
    )


def _attendance_locked(session: Session, patient: User) -> Attendance:
    """The patient's attendance row for the session, locked; created (present, from the room)
    when the room first reports them."""
    try:
        with transaction.atomic():
            attendance, _created = Attendance.objects.select_for_update().get_or_create(
                session=session,
                patient=patient,
                defaults={"status": AttendanceStatus.PRESENT, "source": AttendanceSource.AUTO},
            )
    except IntegrityError:  # created concurrently by another socket: use that row
        attendance = Attendance.objects.select_for_update().get(session=session, patient=patient)
    return attendance


@transaction.atomic
def attendance_record_presence(
    *,
    session: Session,
    patient: User,
    joined_at: dt.datetime,
    left_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Attendance | None:
    """Record that ``patient`` was in ``session``'s room from ``joined_at`` to ``left_at``
    (None: still there). Called by the rooms app on join and on leave; safe to call again
    with the same ``joined_at`` and a later ``left_at`` (the interval is updated, not added
    twice). Overlapping intervals (two tabs) are counted once, and only time inside the
    session's start/end counts.

    Pre-fills status and minutes (late if first joined more than 10 minutes after the start;
    left early if last left more than 15 minutes before the end) unless the facilitator has
    already confirmed, whose word stands. Returns None, writing nothing, when ``patient`` is
    not a member patient of the session (e.g. a facilitator in the room).
    """

    if joined_at.tzinfo is None or (left_at is not None and left_at.tzinfo is None):
        raise SchedulingError(_("Presence times must be timezone-aware."))
    if left_at is not None and left_at < joined_at:
        raise SchedulingError(_("The end is before the start."))
    if not _member_of(session, patient):
        return None
    now = now or timezone.now()
    attendance = _attendance_locked(session, patient)
    joined_iso = joined_at.astimezone(dt.UTC).isoformat()
    left_iso = left_at.astimezone(dt.UTC).isoformat() if left_at else None
    presence = [list(item) for item in attendance.presence]
    for item in presence:
        if item[0] == joined_iso:
            if left_iso is not None and (item[1] is None or item[1] < left_iso):
                item[1] = left_iso
            break
    else:
        presence.append([joined_iso, left_iso])
    attendance.presence = presence
    minutes, status, first, last = _presence_summary(session, presence, now)
    attendance.first_joined_at, attendance.last_left_at = first, last
    fields = ["presence", "first_joined_at", "last_left_at", "updated_at"]
    if attendance.source == AttendanceSource.AUTO:
        attendance.minutes = min(minutes, session.duration_minutes)
        attendance.status = status
        fields += ["minutes", "status"]
    attendance.save(update_fields=fields)
    audit_record(
        actor=patient,
        action=AuditAction.UPDATE,
        obj=attendance,
        patient=patient,
        detail="presence recorded",
    )
    return attendance


@transaction.atomic
def attendance_record_location(
    *, session: Session, patient: User, location: str, place: str
) -> Attendance | None:
    """Record where ``patient`` said they are as they joined ``session``'s video (for an
    emergency, and the claim's place of service). None for a non-member, as presence."""

    if location not in PatientLocation.values:
        raise SchedulingError(_("Choose where you are."))
    if not _member_of(session, patient):
        return None
    attendance = _attendance_locked(session, patient)
    attendance.location = location
    attendance.location_place = place
    attendance.save(update_fields=["location", "location_place", "updated_at"])
    audit_record(
        actor=patient,
        action=AuditAction.UPDATE,
        obj=attendance,
        patient=patient,
        detail="location recorded",
    )
    return attendance


@dataclass(frozen=True)
class AttendanceEntry:
    patient_id: int
    status: str
    minutes: int


@transaction.atomic
def attendance_confirm_roster(
    *,
    session: Session,
    by: User,
    entries: Sequence[AttendanceEntry],
    now: dt.datetime | None = None,
) -> list[Attendance]:
    """The facilitator confirms or corrects attendance for the whole roster at once; the
    session becomes completed. All entries are checked before anything is written."""
    require_staff_of(by, session.group.program)
    session = (
        Session.objects.select_for_update().select_related("group__program").get(pk=session.pk)
    )
    now = now or timezone.now()
    if session.status == SessionStatus.CANCELLED:
        raise SchedulingError(_("A cancelled session has no attendance."))
    if session.starts_at > now:
        raise SchedulingError(_("Attendance can be confirmed once the session has started."))
    roster = {member.pk: member for member in session_roster(session=session)}
    seen: set[int] = set()
    valid_status = set(AttendanceStatus.values)
    for entry in entries:
        if entry.patient_id not in roster:
            raise SchedulingError(_("A patient in the form is not on this session's roster."))
        if entry.patient_id in seen:
            raise SchedulingError(_("A patient appears twice in the form."))
        seen.add(entry.patient_id)
        if entry.status not in valid_status:
            raise SchedulingError(_("Choose an attendance status for every patient."))
        if not 0 <= entry.minutes <= session.duration_minutes:
            raise SchedulingError(
                _("Minutes must be between 0 and %(max)d.") % {"max": session.duration_minutes}
            )
        if entry.status in (AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED) and entry.minutes:
            raise SchedulingError(_("An absent or excused patient has 0 minutes."))
    saved = []
    for entry in entries:
        attendance, _created = Attendance.objects.update_or_create(
            session=session,
            patient_id=entry.patient_id,
            defaults={
                "status": entry.status,
                "minutes": entry.minutes,
                "source": AttendanceSource.CONFIRMED,
                "confirmed_by": by,
                "confirmed_at": now,
            },
        )
        audit_record(
            actor=by,
            action=AuditAction.UPDATE,
            obj=attendance,
            patient=roster[entry.patient_id],
            detail=f"attendance confirmed: {entry.status}",
        )
        saved.append(attendance)
    if session.ends_at <= now and session.status == SessionStatus.SCHEDULED:
        session.status = SessionStatus.COMPLETED
        session.save(update_fields=["status", "updated_at"])
    return saved
