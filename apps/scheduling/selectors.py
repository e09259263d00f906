"""Reads for scheduling, and the one place its access rules live.

- A patient sees the sessions of groups they are a member of on the session's date
  (``membership_covers``), and their own appointments and attendance.
- A clinician sees the groups, sessions, appointments and attendance of programs they work in
  (``apps.programs.selectors.programs_for_staff``); admins see every program.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.selectors import patients_in_treatment, patients_visible_to, program_for_patient
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff
from apps.scheduling.models import (
    APPOINTMENT_HOLDING,
    ATTENDED_STATUSES,
    OFFER_OPEN,
    Appointment,
    AppointmentStatus,
    Attendance,
    AvailabilityException,
    CalendarFeed,
    ClinicianAvailability,
    Group,
    GroupMembership,
    MembershipStatus,
    OfferStatus,
    SeatOffer,
    Session,
    SessionStatus,
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


# --- Weeks and hours ----------------------------------------------------------------------


def week_start_for(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def week_bounds(*, week_start: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """[Monday 00:00, next Monday 00:00) in ``tz``, as aware datetimes."""
    start = dt.datetime.combine(week_start, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(week_start + dt.timedelta(days=7), dt.time.min, tzinfo=tz)
    return start, end


@dataclass
class WeeklyHours:
    patient: User
    minutes: int
    days: int
    floor_minutes: int
    min_days: int
    scheduled_minutes_left: int
    days_left: int

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)

    @property
    def floor_hours(self) -> float:
        return round(self.floor_minutes / 60, 1)

    @property
    def below_floor(self) -> bool:
        return self.minutes < self.floor_minutes or self.days < self.min_days

    @property
    def can_still_meet(self) -> bool:
        return self.minutes + self.scheduled_minutes_left >= self.floor_minutes

    @property
    def floor_status(self) -> str:
        """The one reading of the week against the floor, for every page that shows it:
        "met"; "on_track" (below so far, but the sessions still scheduled this week reach
        it); "behind" (they cannot, or the week is over)."""
        if not self.below_floor:
            return "met"
        if self.days_left and self.can_still_meet:
            return "on_track"
        return "behind"

    @property
    def behind(self) -> bool:
        return self.floor_status == "behind"

    @property
    def percent(self) -> int:
        if not self.floor_minutes:
            return 100
        return min(100, round(100 * self.minutes / self.floor_minutes))


def weekly_hours(
    *,
    patients: list[User],
    program: Program,
    week_start: dt.date,
    now: dt.datetime | None = None,
) -> list[WeeklyHours]:
    """Hours attended in the program's week (Monday to Sunday in the program's zone): group
    minutes from attendance that counts (present, late, left early) plus completed individual
    appointments, against the program's weekly floor (ASAM 2.1: 9 h for adults) and minimum
    days. A fixed number of queries whatever the number of patients."""
    now = now or timezone.now()
    tz = program.time_zone
    start, end = week_bounds(week_start=week_start, tz=tz)
    ids = [p.pk for p in patients]
    minutes: dict[int, int] = defaultdict(int)
    days: dict[int, set[dt.date]] = defaultdict(set)
    for patient_id, mins, starts_at in Attendance.objects.filter(
        patient_id__in=ids,
        status__in=ATTENDED_STATUSES,
        session__starts_at__gte=start,
        session__starts_at__lt=end,
    ).values_list("patient_id", "minutes", "session__starts_at"):
        minutes[patient_id] += mins
        if mins:
            days[patient_id].add(starts_at.astimezone(tz).date())
    # What is still on the calendar this week: the room left to catch up.
    left: dict[int, int] = defaultdict(int)
    upcoming_from = max(now, start)
    # Completed appointments count; booked or requested ones still ahead are room left. One
    # query for both (the page costs scale with queries, not rows: bench/RESULTS.md).
    for patient_id, status, starts_at, ends_at in Appointment.objects.filter(
        patient_id__in=ids,
        status__in=[AppointmentStatus.COMPLETED, "booked", "requested"],
        starts_at__gte=start,
        starts_at__lt=end,
    ).values_list("patient_id", "status", "starts_at", "ends_at"):
        length = int((ends_at - starts_at).total_seconds() // 60)
        if status == AppointmentStatus.COMPLETED:
            minutes[patient_id] += length
            days[patient_id].add(starts_at.astimezone(tz).date())
        elif starts_at >= upcoming_from:
            left[patient_id] += length
    if ids and upcoming_from < end:
        # Scheduled sessions ahead this week that each patient has a seat for, read through
        # the memberships so seat and session come in one query. One filter() call, so every
        # condition is on the same session row.
        occurrence = F("group__sessions__occurrence_date")
        for patient_id, s_start, s_end in GroupMembership.objects.filter(
            membership_covers(patient_ref=None, date_ref=occurrence),
            patient_id__in=ids,
            group__sessions__status=SessionStatus.SCHEDULED,
            group__sessions__starts_at__gte=upcoming_from,
            group__sessions__starts_at__lt=end,
        ).values_list("patient_id", "group__sessions__starts_at", "group__sessions__ends_at"):
            left[patient_id] += int((s_end - s_start).total_seconds() // 60)
    today = now.astimezone(tz).date()
    week_end = week_start + dt.timedelta(days=6)
    days_left = 7 if today < week_start else max(0, (week_end - today).days + 1)
    if today > week_end:
        days_left = 0
    floor = int(program.weekly_hour_floor * 60)
    return [
        WeeklyHours(
            patient=p,
            minutes=minutes[p.pk],
            days=len(days[p.pk]),
            floor_minutes=floor,
            min_days=program.min_days_per_week,
            scheduled_minutes_left=left[p.pk],
            days_left=days_left,
        )
        for p in patients
    ]


def caseload_patients(*, user: User, program: Program) -> list[User]:
    """The program's patients in treatment that a staff member may see, by name (not
    applicants, waitlisted, referred, withdrawn or discharged people)."""
    return list(
        patients_in_treatment(patients_visible_to(user=user))
        .filter(patient_profile__program=program)
        .select_related("patient_profile")
        .order_by("full_name", "pk")
    )


# --- Agendas ------------------------------------------------------------------------------


@dataclass
class AgendaItem:
    kind: str  # "session" or "appointment"
    starts_at: dt.datetime
    ends_at: dt.datetime
    title: str
    cancelled: bool
    cancel_reason: str
    obj: Any
    # Set by the pages that show them.
    join_open: bool = False
    attendance: Any = None

    @property
    def local_day(self) -> dt.date:
        return timezone.localtime(self.starts_at).date()


def agenda_for_patient(*, patient: User, start: dt.datetime, end: dt.datetime) -> list[AgendaItem]:
    """A patient's sessions and appointments in [start, end), in time order. Two queries."""
    items = [
        AgendaItem(
            kind="session",
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            title=s.group.name,
            cancelled=s.is_cancelled,
            cancel_reason=s.cancel_reason,
            obj=s,
        )
        for s in sessions_for_patient(patient=patient, start=start, end=end)
    ]
    items += [
        AgendaItem(
            kind="appointment",
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            title=str(a.get_kind_display()),
            cancelled=a.is_cancelled,
            cancel_reason=a.cancel_reason,
            obj=a,
        )
        for a in Appointment.objects.filter(
            patient=patient, starts_at__gte=start, starts_at__lt=end
        ).select_related("clinician")
    ]
    return sorted(items, key=lambda item: (item.starts_at, item.kind))


def upcoming_for_patient(*, patient: User, now: dt.datetime, limit: int = 3) -> list[AgendaItem]:
    """What a patient has coming up (or running now): scheduled group sessions and booked
    appointments not yet over, soonest first, each with ``join_open``. Looks past
    this week's end (on a Sunday evening the next group is Monday). Two queries."""
    sessions = sessions_for_patient(patient=patient, start=now - dt.timedelta(hours=12)).filter(
        status="scheduled", ends_at__gt=now
    )[:limit]
    appointments = (
        Appointment.objects.filter(patient=patient, status="booked", ends_at__gt=now)
        .select_related("clinician")
        .order_by("starts_at", "id")[:limit]
    )
    items = []
    for s in sessions:
        item = AgendaItem(
            kind="session",
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            title=s.group.name,
            cancelled=False,
            cancel_reason="",
            obj=s,
            join_open=s.join_is_open(now),
        )
        items.append(item)
    for a in appointments:
        item = AgendaItem(
            kind="appointment",
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            title=str(a.get_kind_display()),
            cancelled=False,
            cancel_reason="",
            obj=a,
            join_open=a.join_is_open(now),
        )
        items.append(item)
    return sorted(items, key=lambda item: (item.starts_at, item.kind))[:limit]


def sessions_for_clinician(
    *, clinician: User, start: dt.datetime, end: dt.datetime
) -> QuerySet[Session]:
    """Sessions the clinician runs in [start, end): as a group facilitator (unless another
    clinician covers that occurrence) or as the covering facilitator."""
    return (
        Session.objects.filter(starts_at__gte=start, starts_at__lt=end)
        .filter(
            Q(facilitator=clinician)
            | (Q(facilitator__isnull=True) & Q(group__facilitators=clinician))
        )
        .select_related("group", "group__program")
        .distinct()
        .order_by("starts_at", "id")
    )


def appointments_for_clinician(
    *, clinician: User, start: dt.datetime, end: dt.datetime
) -> QuerySet[Appointment]:
    return (
        Appointment.objects.filter(clinician=clinician, starts_at__gte=start, starts_at__lt=end)
        .select_related("patient")
        .order_by("starts_at", "id")
    )


def program_week(*, program: Program, week_start: dt.date) -> dict[str, Any]:
    """Groups × days for a program's week, in the program's zone. Two queries."""
    tz = program.time_zone
    start, end = week_bounds(week_start=week_start, tz=tz)
    days = [week_start + dt.timedelta(days=i) for i in range(7)]
    groups = list(Group.objects.filter(program=program).order_by("track", "start_time", "name"))
    cells: dict[tuple[int, dt.date], list[Session]] = defaultdict(list)
    for session in Session.objects.filter(
        group__program=program, starts_at__gte=start, starts_at__lt=end
    ).select_related("facilitator"):
        cells[(session.group_id, session.starts_at.astimezone(tz).date())].append(session)
    rows = [{"group": g, "cells": [cells.get((g.pk, d), []) for d in days]} for g in groups]
    return {"days": days, "rows": rows, "tz": tz}


def open_slots(
    *,
    clinician: User,
    patient: User,
    start_day: dt.date,
    days: int = 14,
    length: dt.timedelta = dt.timedelta(minutes=50),
    step: dt.timedelta = dt.timedelta(minutes=30),
    now: dt.datetime | None = None,
) -> list[dt.datetime]:
    """Start times (UTC) the patient may request with this clinician: inside the clinician's
    weekly hours (their zone), not in an exception, in the future, clashing with nothing.
    A fixed number of queries whatever the range."""
    now = now or timezone.now()
    tz = clinician.time_zone
    windows: dict[int, list[tuple[dt.time, dt.time]]] = defaultdict(list)
    for w in ClinicianAvailability.objects.filter(clinician=clinician):
        windows[w.weekday].append((w.start_time, w.end_time))
    last_day = start_day + dt.timedelta(days=days)
    exceptions: dict[dt.date, list[AvailabilityException]] = defaultdict(list)
    for ex in AvailabilityException.objects.filter(
        clinician=clinician, date__gte=start_day, date__lt=last_day
    ):
        exceptions[ex.date].append(ex)
    range_start = dt.datetime.combine(start_day, dt.time.min, tzinfo=tz)
    range_end = dt.datetime.combine(last_day, dt.time.min, tzinfo=tz)
    busy: list[tuple[dt.datetime, dt.datetime]] = []
    busy += list(
        Appointment.objects.filter(
            Q(clinician=clinician) | Q(patient=patient),
            status__in=APPOINTMENT_HOLDING,
            starts_at__lt=range_end,
            ends_at__gt=range_start,
        ).values_list("starts_at", "ends_at")
    )
    busy += list(
        sessions_for_clinician(
            clinician=clinician, start=range_start - dt.timedelta(hours=12), end=range_end
        )
        .filter(status=SessionStatus.SCHEDULED)
        .values_list("starts_at", "ends_at")
    )
    busy += list(
        sessions_for_patient(
            patient=patient, start=range_start - dt.timedelta(hours=12), end=range_end
        )
        .filter(status=SessionStatus.SCHEDULED)
        .values_list("starts_at", "ends_at")
    )
    slots = []
    for offset in range(days):
        day = start_day + dt.timedelta(days=offset)
        for w_start, w_end in sorted(windows.get(day.weekday(), [])):
            cursor = dt.datetime.combine(day, w_start, tzinfo=tz)
            stop = dt.datetime.combine(day, w_end, tzinfo=tz)
            while cursor + length <= stop:
                slot_end = cursor + length
                blocked = cursor < now or any(
                    b_start < slot_end and b_end > cursor for b_start, b_end in busy
                )
                for ex in exceptions.get(day, []):
                    if ex.start_time is None:
                        blocked = True
                    else:
                        ex_start = dt.datetime.combine(day, ex.start_time, tzinfo=tz)
                        ex_end = dt.datetime.combine(day, ex.end_time, tzinfo=tz)  # type: ignore[arg-type]
                        if ex_start < slot_end and ex_end > cursor:
                            blocked = True
                if not blocked:
                    slots.append(cursor.astimezone(dt.UTC))
                cursor += step
    return slots


def clinicians_for_patient(*, patient: User) -> QuerySet[User]:
    """Clinicians of the patient's program (whom the patient may ask for an appointment)."""
    program = program_for_patient(user=patient)
    if program is None:
        return User.objects.none()
    return User.objects.filter(role="clinician", program_staff__program=program, is_active=True)


# --- Calendar feeds -----------------------------------------------------------------------


def calendar_feed_user(*, token: str) -> User | None:
    """The user owning this feed token, or None (unknown or revoked token)."""
    if not token or len(token) > 64:
        return None
    feed = CalendarFeed.objects.select_related("user").filter(token=token).first()
    if feed is None or not feed.user.is_active:
        return None
    return feed.user


def patients_for_staff(*, user: User) -> QuerySet[User]:
    """Patients a clinician/admin may schedule (their programs' patients)."""
    if not user.is_authenticated or user.is_patient:
        return User.objects.none()
    return patients_visible_to(user=user).order_by("full_name", "pk")


def patients_for_program(*, user: User, program: Program) -> QuerySet[User]:
    return patients_for_staff(user=user).filter(patient_profile__program=program)


# --- Seat offers --------------------------------------------------------------------------


def seat_offers_pending_for_staff(*, user: User) -> QuerySet[SeatOffer]:
    """Offers waiting for staff to confirm, in groups of the programs ``user`` works in."""
    if not user.is_authenticated or user.is_patient:
        return SeatOffer.objects.none()
    return (
        SeatOffer.objects.filter(
            status=OfferStatus.PENDING, group__program__in=programs_for_staff(user=user)
        )
        .select_related("group", "patient", "membership")
        .order_by("created_at", "pk")
    )


def seat_offers_open_for_group(*, group: Group) -> list[SeatOffer]:
    """The group's pending and sent offers (the caller decided the viewer is its staff)."""
    return list(
        SeatOffer.objects.filter(group=group, status__in=OFFER_OPEN)
        .select_related("patient", "membership", "confirmed_by")
        .order_by("created_at", "pk")
    )


def seat_offer_get_for_staff(*, user: User, offer_id: int | str) -> SeatOffer | None:
    try:
        pk = int(offer_id)
    except (TypeError, ValueError):
        return None
    if not user.is_authenticated or user.is_patient:
        return None
    return (
        SeatOffer.objects.filter(group__program__in=programs_for_staff(user=user), pk=pk)
        .select_related("group__program", "patient")
        .first()
    )


def seat_offers_for_patient(*, patient: User, now: dt.datetime) -> list[SeatOffer]:
    """Seats offered to ``patient`` that they can still answer (sent, not yet expired)."""
    if not patient.is_authenticated or not patient.is_patient:
        return []
    return list(
        SeatOffer.objects.filter(patient=patient, status=OfferStatus.OFFERED, expires_at__gt=now)
        .select_related("group__program")
        .order_by("expires_at", "pk")
    )


def seat_offer_get_for_patient(*, user: User, offer_id: int | str) -> SeatOffer | None:
    """The offer if it was made to ``user``; anyone else (another patient, staff) gets None."""
    try:
        pk = int(offer_id)
    except (TypeError, ValueError):
        return None
    if not user.is_authenticated or not user.is_patient:
        return None
    return SeatOffer.objects.filter(patient=user, pk=pk).select_related("group__program").first()


def waitlist_passed_over_ids(*, group: Group) -> set[int]:
    """Waitlist places whose offer was skipped or expired: not offered again automatically."""
    return set(
        SeatOffer.objects.filter(
            group=group,
            status__in=[OfferStatus.SKIPPED, OfferStatus.EXPIRED],
            membership__status=MembershipStatus.WAITLISTED,
        ).values_list("membership_id", flat=True)
    )
