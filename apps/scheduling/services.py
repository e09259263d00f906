"""Writes for scheduling. Every entry point (views, admin, tasks, other apps) calls these.

Each public service checks access and validates, then writes inside one transaction; bad
input raises ``SchedulingError`` (a ValidationError subclass, with a user-facing message)
and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.selectors import patients_in_treatment
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.notifications.services import notification_schedule, notifications_cancel
from apps.programs.selectors import programs_for_staff
from apps.scheduling import curriculum, extensions, recurrence
from apps.scheduling.models import (
    APPOINTMENT_HOLDING,
    OFFER_OPEN,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Attendance,
    AttendanceSource,
    AttendanceStatus,
    AvailabilityException,
    CalendarFeed,
    ClinicianAvailability,
    Group,
    GroupMembership,
    MembershipStatus,
    OfferStatus,
    PatientLocation,
    SeatOffer,
    Session,
    SessionStatus,
)

if TYPE_CHECKING:
    from apps.programs.models import Program

# How far ahead sessions exist; the periodic task keeps extending it.
HORIZON_WEEKS = 8
# Attendance rules of thumb for the automatic pre-fill (the facilitator confirms).
LATE_AFTER = dt.timedelta(minutes=10)
LEFT_EARLY_BEFORE = dt.timedelta(minutes=15)


class SchedulingError(ValidationError):
    """Bad input or a refused action; the message is safe to show to the user."""


class GroupFullError(SchedulingError):
    """The group has no free seat (and the caller did not ask for the waitlist)."""


def _require_staff_of(user: User | None, program: Program) -> None:
    if user is None:
        return  # system callers (tasks, demo data)
    if not programs_for_staff(user=user).filter(pk=program.pk).exists():
        raise SchedulingError(_("You do not work in this program."))


def _local_today(tz: Any, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(tz).date()


def _notify_cancelled(*, session: Session, patient_ids: Iterable[int], reason: str) -> None:
    """Drop pending reminders for the session and queue a cancellation notice per member
    (in this transaction, so a rollback sends nothing). The notice carries ids and the time
    only; the text is rendered by notifications."""
    event_key = f"scheduling.session:{session.pk}"
    notifications_cancel(event_key=event_key)
    for recipient in User.objects.filter(pk__in=list(patient_ids), is_active=True):
        notification_schedule(
            recipient=recipient,
            kind="session_cancelled",
            event_key=f"{event_key}/cancelled",
            context={
                "session_id": session.pk,
                "group_id": session.group_id,
                "starts_at": session.starts_at,
                "link": "/schedule/",
            },
        )


# --- Groups and sessions ------------------------------------------------------------------


@dataclass
class GroupSeries:
    """What defines a group's series; used to create one and to edit it."""

    name: str
    kind: str
    track: str
    rrule: str
    start_time: dt.time
    duration_minutes: int
    start_date: dt.date
    end_date: dt.date | None = None
    capacity: int = 12
    admission: str = "open"
    # Titles or {"title", "module"} objects (apps.scheduling.curriculum).
    curriculum_topics: Sequence[str | dict[str, str]] = ()
    auto_admit_members: bool = True
    description: str = ""


def _validate_facilitators(program: Program, facilitators: Sequence[User]) -> None:
    if not 1 <= len(facilitators) <= 2:
        raise SchedulingError(_("A group has one or two facilitators."))
    for person in facilitators:
        if (
            not person.is_clinician
            or not programs_for_staff(user=person).filter(pk=program.pk).exists()
        ):
            raise SchedulingError(_("Facilitators must be clinicians of this program."))


def _validate_series(series: GroupSeries) -> None:
    try:
        recurrence.rrule_validate(series.rrule)
    except recurrence.RecurrenceError as exc:
        raise SchedulingError(str(exc)) from exc
    if series.end_date and series.end_date < series.start_date:
        raise SchedulingError(_("The end date is before the start date."))
    if not 15 <= series.duration_minutes <= 600:
        raise SchedulingError(_("A session lasts between 15 minutes and 10 hours."))
    if not 1 <= series.capacity <= 50:
        raise SchedulingError(_("Capacity must be between 1 and 50."))
    if not series.name.strip():
        raise SchedulingError(_("Give the group a name."))
    try:
        # Normalised to objects here, so every entry point stores one shape.
        series.curriculum_topics = curriculum.topics_clean(list(series.curriculum_topics))
    except ValidationError as exc:
        raise SchedulingError(exc.messages[0]) from exc


def _group_clash(
    *,
    sessions: QuerySet[Session],
    people: Sequence[User],
    as_member: bool,
) -> str | None:
    """The first of ``sessions`` that overlaps something ``people`` already do: another
    group they facilitate (or attend, ``as_member``) or a held appointment. A sentence
    naming no other patient, or None."""
    from apps.scheduling.selectors import sessions_for_patient

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


@transaction.atomic
def group_create(
    *,
    program: Program,
    by: User | None,
    series: GroupSeries,
    facilitators: Sequence[User],
    now: dt.datetime | None = None,
) -> Group:
    """Create a recurring group and generate its sessions over the horizon."""
    _require_staff_of(by, program)
    _validate_series(series)
    _validate_facilitators(program, facilitators)
    if Group.objects.filter(program=program, name=series.name.strip()).exists():
        raise SchedulingError(_("This program already has a group with that name."))
    group = Group.objects.create(
        program=program,
        name=series.name.strip(),
        kind=series.kind,
        track=series.track,
        rrule=series.rrule,
        start_time=series.start_time,
        duration_minutes=series.duration_minutes,
        start_date=series.start_date,
        end_date=series.end_date,
        capacity=series.capacity,
        admission=series.admission,
        curriculum_topics=list(series.curriculum_topics),
        auto_admit_members=series.auto_admit_members,
        description=series.description,
    )
    group.facilitators.set(facilitators)
    sessions_generate(group=group, now=now)
    future = Session.objects.filter(group=group, starts_at__gte=now or timezone.now())
    clash = _group_clash(sessions=future, people=facilitators, as_member=False)
    if clash:
        raise SchedulingError(clash)  # the transaction rolls the group back
    audit_record(actor=by, action=AuditAction.CREATE, obj=group, detail="group created")
    return group


def sessions_generate(
    *,
    group: Group,
    horizon_weeks: int = HORIZON_WEEKS,
    now: dt.datetime | None = None,
    since: dt.date | None = None,
) -> int:
    """Create the group's missing sessions from today (or ``since``, e.g. to backfill demo
    history) to the horizon. Idempotent: an occurrence that exists (even moved or cancelled)
    is never made twice, enforced by the (group, occurrence_date) unique constraint.
    Returns how many were created."""
    tz = group.program.time_zone
    today = _local_today(tz, now)
    window_end = today + dt.timedelta(weeks=horizon_weeks)
    if since is not None:
        today = min(today, since)
    planned = recurrence.occurrences(
        rule=group.rrule,
        series_start=group.start_date,
        series_end=group.end_date,
        start_time=group.start_time,
        duration=group.duration,
        tz=tz,
        window_start=today,
        window_end=window_end,
    )
    existing = set(
        Session.objects.filter(
            group=group, occurrence_date__gte=today, occurrence_date__lte=window_end
        ).values_list("occurrence_date", flat=True)
    )
    new = [
        Session(
            group=group,
            occurrence_date=occ.local_date,
            starts_at=occ.starts_at,
            ends_at=occ.ends_at,
        )
        for occ in planned
        if occ.local_date not in existing
    ]
    # ignore_conflicts: a concurrent run of the task that inserted the same rows wins quietly.
    Session.objects.bulk_create(new, ignore_conflicts=True)
    _curriculum_apply(
        group=group,
        sessions=Session.objects.filter(
            group=group, occurrence_date__gte=today, occurrence_date__lte=window_end, topic=""
        ),
    )
    return len(new)


def _rotation_key(group: Group) -> tuple[Any, ...]:
    """What a session's rotated topic depends on."""
    return (
        group.rrule,
        group.start_date,
        group.start_time,
        curriculum.topics_read(group.curriculum_topics),
    )


def _curriculum_apply(*, group: Group, sessions: QuerySet[Session]) -> int:
    """Give ``sessions`` (scheduled, not edited individually) their curriculum topic by
    occurrence index (apps.scheduling.curriculum explains the anchoring). A session edited
    on its own — including a topic a clinician cleared — is never touched. Returns how many
    changed."""
    topics = curriculum.topics_read(group.curriculum_topics)
    targets = list(
        sessions.filter(is_modified=False, status=SessionStatus.SCHEDULED).only(
            "pk", "occurrence_date", "topic"
        )
    )
    if not targets:
        return 0
    indices = (
        curriculum.occurrence_indices(
            rule=group.rrule,
            series_start=group.start_date,
            start_time=group.start_time,
            until=max(s.occurrence_date for s in targets),
        )
        if topics
        else {}
    )
    changed = []
    for session in targets:
        topic = curriculum.topic_for_occurrence(topics, indices.get(session.occurrence_date))
        if topic != session.topic:
            session.topic = topic
            session.updated_at = timezone.now()
            changed.append(session)
    Session.objects.bulk_update(changed, ["topic", "updated_at"])
    return len(changed)


def sessions_extend_all(*, now: dt.datetime | None = None) -> int:
    """Extend every running group's sessions to the horizon (the periodic task)."""
    created = 0
    today = (now or timezone.now()).date()
    groups = Group.objects.filter(
        Q(end_date__isnull=True) | Q(end_date__gte=today - dt.timedelta(days=1))
    ).select_related("program")
    for group in groups:
        with transaction.atomic():
            created += sessions_generate(group=group, now=now)
    return created


@transaction.atomic
def group_update_series(
    *,
    group: Group,
    by: User | None,
    series: GroupSeries,
    facilitators: Sequence[User] | None = None,
    now: dt.datetime | None = None,
) -> Group:
    """Change the series. Future, unmodified, scheduled sessions follow the new times and
    days; past sessions and individually edited ones are left as they are. Capacity may not
    drop below the current membership."""
    _require_staff_of(by, group.program)
    _validate_series(series)
    if facilitators is not None:
        _validate_facilitators(group.program, facilitators)
    group = Group.objects.select_for_update().select_related("program").get(pk=group.pk)
    rotation_before = _rotation_key(group)
    active = group.memberships.filter(status=MembershipStatus.ACTIVE).count()
    if series.capacity < active:
        raise SchedulingError(
            _("Capacity cannot be below the current membership (%(n)d members).") % {"n": active}
        )
    if (
        Group.objects.filter(program=group.program, name=series.name.strip())
        .exclude(pk=group.pk)
        .exists()
    ):
        raise SchedulingError(_("This program already has a group with that name."))
    for field in (
        "kind",
        "track",
        "rrule",
        "start_time",
        "duration_minutes",
        "start_date",
        "end_date",
        "capacity",
        "admission",
        "auto_admit_members",
        "description",
    ):
        setattr(group, field, getattr(series, field))
    group.name = series.name.strip()
    group.curriculum_topics = list(series.curriculum_topics)
    group.save()
    if facilitators is not None:
        group.facilitators.set(facilitators)

    now = now or timezone.now()
    tz = group.program.time_zone
    today = _local_today(tz, now)
    planned = {
        occ.local_date: occ
        for occ in recurrence.occurrences(
            rule=group.rrule,
            series_start=group.start_date,
            series_end=group.end_date,
            start_time=group.start_time,
            duration=group.duration,
            tz=tz,
            window_start=today,
            window_end=today + dt.timedelta(weeks=HORIZON_WEEKS),
        )
    }
    future = Session.objects.select_for_update().filter(
        group=group, starts_at__gt=now, is_modified=False, status=SessionStatus.SCHEDULED
    )
    for session in future:
        occ = planned.get(session.occurrence_date)
        if occ is None:
            if session.attendance.exists():
                session.status = SessionStatus.CANCELLED
                session.cancel_reason = _("The group's schedule changed.")
                session.save(update_fields=["status", "cancel_reason", "updated_at"])
            else:
                session.delete()
        elif (session.starts_at, session.ends_at) != (occ.starts_at, occ.ends_at):
            session.starts_at, session.ends_at = occ.starts_at, occ.ends_at
            session.save(update_fields=["starts_at", "ends_at", "updated_at"])
    if rotation_before != _rotation_key(group):
        # The curriculum or its anchor changed: future sessions that follow the series take
        # the new rotation (individually edited ones keep theirs, as with times).
        _curriculum_apply(
            group=group, sessions=Session.objects.filter(group=group, starts_at__gt=now)
        )
    sessions_generate(group=group, now=now)
    clash = _group_clash(
        sessions=Session.objects.filter(group=group, starts_at__gte=now or timezone.now()),
        people=list(group.facilitators.all()),
        as_member=False,
    )
    if clash:
        raise SchedulingError(clash)  # the transaction rolls the edit back
    # More seats go to the waitlist as offers; fewer withdraw offers no longer covered.
    _offers_reconcile(group, now=now)
    audit_record(actor=by, action=AuditAction.UPDATE, obj=group, detail="series edited")
    return group


def _session_member_ids(session: Session) -> list[int]:
    from apps.scheduling.selectors import session_roster

    return [member.pk for member in session_roster(session=session)]


@transaction.atomic
def session_cancel(*, session: Session, by: User | None, reason: str) -> Session:
    """Cancel one occurrence (the series is untouched). ``reason`` is shown to patients."""
    if by is not None:
        _require_staff_of(by, session.group.program)
    reason = (reason or "").strip()
    if not reason:
        raise SchedulingError(_("Give a reason patients will see."))
    if len(reason) > 200:
        raise SchedulingError(_("Keep the reason under 200 characters."))
    session = (
        Session.objects.select_for_update().select_related("group__program").get(pk=session.pk)
    )
    if session.status == SessionStatus.CANCELLED:
        raise SchedulingError(_("This session is already cancelled."))
    if session.status == SessionStatus.COMPLETED:
        raise SchedulingError(_("A completed session cannot be cancelled."))
    session.status = SessionStatus.CANCELLED
    session.cancel_reason = reason
    session.is_modified = True
    session.save(update_fields=["status", "cancel_reason", "is_modified", "updated_at"])
    audit_record(actor=by, action=AuditAction.TRANSITION, obj=session, detail="cancelled")
    _notify_cancelled(session=session, patient_ids=_session_member_ids(session), reason=reason)
    return session


@transaction.atomic
def session_update(
    *,
    session: Session,
    by: User | None,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
    topic: str | None = None,
    facilitator: User | None | bool = False,
    now: dt.datetime | None = None,
) -> Session:
    """Edit one occurrence: move it, set its topic or a covering facilitator. Marks it
    modified so later series edits leave it alone. ``facilitator=None`` clears the cover;
    the default (False) leaves it unchanged."""
    if by is not None:
        _require_staff_of(by, session.group.program)
    session = (
        Session.objects.select_for_update().select_related("group__program").get(pk=session.pk)
    )
    if session.status != SessionStatus.SCHEDULED:
        raise SchedulingError(_("Only a scheduled session can be changed."))
    fields = ["is_modified", "updated_at"]
    if starts_at is not None or ends_at is not None:
        new_start = starts_at or session.starts_at
        new_end = ends_at or (new_start + (session.ends_at - session.starts_at))
        if new_end <= new_start:
            raise SchedulingError(_("The end is before the start."))
        if new_start < (now or timezone.now()):
            raise SchedulingError(_("A session cannot be moved into the past."))
        session.starts_at, session.ends_at = new_start, new_end
        fields += ["starts_at", "ends_at"]
    if topic is not None:
        session.topic = topic.strip()[:200]
        fields.append("topic")
    if facilitator is not False:
        if facilitator is not None:
            _validate_facilitators(session.group.program, [facilitator])  # type: ignore[list-item]
        session.facilitator = facilitator or None  # type: ignore[assignment]
        fields.append("facilitator")
    session.is_modified = True
    session.save(update_fields=fields)
    if "starts_at" in fields or "facilitator" in fields:
        running = (
            [session.facilitator] if session.facilitator else list(session.group.facilitators.all())
        )
        clash = _group_clash(
            sessions=Session.objects.filter(pk=session.pk), people=running, as_member=False
        )
        if clash:
            raise SchedulingError(clash)
    audit_record(actor=by, action=AuditAction.UPDATE, obj=session, detail="occurrence edited")
    return session


@transaction.atomic
def sessions_cancel_many(*, sessions: Iterable[Session], by: User | None, reason: str) -> int:
    """Cancel several occurrences at once (e.g. every session of a holiday). Already
    cancelled or completed ones are skipped. Returns how many were cancelled."""
    reason = (reason or "").strip()
    if not reason:
        raise SchedulingError(_("Give a reason patients will see."))
    count = 0
    for session in sessions:
        if session.status != SessionStatus.SCHEDULED:
            continue
        session_cancel(session=session, by=by, reason=reason)
        count += 1
    return count


# --- Memberships --------------------------------------------------------------------------


def _waitlist_renumber(group: Group) -> None:
    waiting = GroupMembership.objects.filter(
        group=group, status=MembershipStatus.WAITLISTED
    ).order_by("waitlist_position", "created_at")
    for position, membership in enumerate(waiting, start=1):
        if membership.waitlist_position != position:
            membership.waitlist_position = position
            membership.save(update_fields=["waitlist_position", "updated_at"])


def _waitlist_to_back(membership: GroupMembership) -> None:
    """Move a waitlist place behind everyone else (an offer expired or was skipped)."""
    last = GroupMembership.objects.filter(
        group_id=membership.group_id, status=MembershipStatus.WAITLISTED
    ).aggregate(m=Max("waitlist_position"))["m"]
    membership.waitlist_position = (last or 0) + 1
    membership.save(update_fields=["waitlist_position", "updated_at"])


# Offers that pass a patient over: no automatic offer to them again (staff may offer by hand).
PASSED_OVER = (OfferStatus.SKIPPED, OfferStatus.EXPIRED)


def _offer_event_key(offer: SeatOffer) -> str:
    return f"scheduling.seatoffer:{offer.pk}"


def _seats_taken(group: Group) -> int:
    """Active members plus seats held by open offers. Caller holds the group's row lock."""
    active = GroupMembership.objects.filter(group=group, status=MembershipStatus.ACTIVE).count()
    held = SeatOffer.objects.filter(group=group, status__in=OFFER_OPEN).count()
    return active + held


def _offer_close(offer: SeatOffer, *, status: str, by: User | None, now: dt.datetime) -> None:
    offer.status = status
    offer.closed_at = now
    offer.closed_by = by
    offer.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
    # A notice not yet sent about an offer that is gone is never sent.
    notifications_cancel(event_key=_offer_event_key(offer))
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=offer,
        patient=offer.patient,
        detail=f"seat offer {status}",
    )


def _offers_withdraw_for(membership: GroupMembership, *, by: User | None) -> None:
    for offer in SeatOffer.objects.select_for_update().filter(
        membership=membership, status__in=OFFER_OPEN
    ):
        _offer_close(offer, status=OfferStatus.WITHDRAWN, by=by, now=timezone.now())


def _offers_reconcile(
    group: Group, *, include_passed_over: bool = False, now: dt.datetime | None = None
) -> list[SeatOffer]:
    """Match open offers to free seats. Each free seat (capacity minus active members minus
    open offers) becomes a pending offer to the next waitlisted patient without one, in
    waitlist order. Patients passed over (an offer skipped by staff or left to expire) are
    offered again only when staff ask (``include_passed_over``), so skipping the only
    patient waiting does not offer them the same seat at once. When capacity fell below
    what offers hold, the newest offers are withdrawn.

    Caller holds the group's row lock: that is what makes "exactly one offer per freed seat"
    hold when two seats free up at once."""
    now = now or timezone.now()
    _waitlist_renumber(group)
    free = group.capacity - _seats_taken(group)
    if free < 0:
        excess = (
            SeatOffer.objects.select_for_update()
            .filter(group=group, status__in=OFFER_OPEN)
            # Unconfirmed offers go first: nobody has been told of them yet.
            .order_by("-status", "-created_at", "-pk")[:-free]
        )
        for offer in list(excess):
            _offer_close(offer, status=OfferStatus.WITHDRAWN, by=None, now=now)
        return []
    today = _local_today(group.program.time_zone, now)
    if (group.end_date and group.end_date < today) or (
        group.admission == "closed" and group.start_date <= today
    ):
        return []  # takes no new members, so nobody is offered a seat
    if free == 0:
        return []
    waiting = GroupMembership.objects.filter(
        group=group, status=MembershipStatus.WAITLISTED
    ).exclude(Exists(SeatOffer.objects.filter(membership=OuterRef("pk"), status__in=OFFER_OPEN)))
    if not include_passed_over:
        waiting = waiting.exclude(
            Exists(SeatOffer.objects.filter(membership=OuterRef("pk"), status__in=PASSED_OVER))
        )
    waiting = waiting.select_related("patient").order_by("waitlist_position")[:free]
    offers = []
    for membership in waiting:
        offer = SeatOffer.objects.create(
            group=group, patient=membership.patient, membership=membership
        )
        audit_record(
            actor=None,
            action=AuditAction.CREATE,
            obj=offer,
            patient=membership.patient,
            detail="seat offer pending",
        )
        offers.append(offer)
    return offers


def _group_locked(group_id: int) -> Group:
    return Group.objects.select_for_update().select_related("program").get(pk=group_id)


@transaction.atomic
def membership_add(
    *,
    group: Group,
    patient: User,
    by: User | None,
    waitlist_if_full: bool = False,
    from_date: dt.date | None = None,
    now: dt.datetime | None = None,
    offer: SeatOffer | None = None,
) -> GroupMembership:
    """Give ``patient`` a seat in ``group`` (or a waitlist place).

    Holds a row lock on the group while counting seats, so two clinicians adding the last
    seat at once cannot both succeed: the second waits for the first to commit, then sees a
    full group and gets ``GroupFullError`` (or the next waitlist place when
    ``waitlist_if_full``). Seats held by open offers count as taken. An open group's new
    member gets every session from their start date on (rolling admission); a closed cohort
    takes members only until it starts.

    ``offer``: the patient (``by``) accepts a seat offered to them; their waitlist place
    becomes the seat, after the same checks (capacity, clash, group still open).
    """
    if offer is None:
        _require_staff_of(by, group.program)
    elif by is None or by.pk != offer.patient_id or patient.pk != offer.patient_id:
        raise SchedulingError(_("This offer is not yours."))
    if not patient.is_patient:
        raise SchedulingError(_("Only patients can be group members."))
    profile = getattr(patient, "patient_profile", None)
    if profile is None or profile.program_id != group.program_id:
        raise SchedulingError(_("The patient is not in this group's program."))
    group = _group_locked(group.pk)
    now = now or timezone.now()
    today = _local_today(group.program.time_zone, now)
    if group.end_date and group.end_date < today:
        raise SchedulingError(_("This group has ended."))
    if group.admission == "closed" and group.start_date <= today:
        raise SchedulingError(_("This closed group has already started; it takes no new members."))
    start = max(from_date or today, group.start_date)
    if offer is not None:
        return _offer_take_seat(group=group, offer=offer, by=by, start=start, now=now)
    live = GroupMembership.objects.filter(
        group=group,
        patient=patient,
        status__in=[MembershipStatus.ACTIVE, MembershipStatus.WAITLISTED],
    ).first()
    if live is not None:
        if live.status == MembershipStatus.WAITLISTED:
            raise SchedulingError(_("This patient is already on the waitlist."))
        raise SchedulingError(_("This patient is already a member of the group."))
    taken = _seats_taken(group)
    if taken < group.capacity:
        clash = _group_clash(
            sessions=Session.objects.filter(group=group, occurrence_date__gte=start),
            people=[patient],
            as_member=True,
        )
        if clash:
            raise SchedulingError(clash)
        membership = GroupMembership.objects.create(
            group=group,
            patient=patient,
            from_date=start,
            status=MembershipStatus.ACTIVE,
            added_by=by,
        )
        extensions.membership_activated(membership=membership, by=by)
        detail = "added"
    elif waitlist_if_full:
        last = GroupMembership.objects.filter(
            group=group, status=MembershipStatus.WAITLISTED
        ).aggregate(m=Max("waitlist_position"))["m"]
        membership = GroupMembership.objects.create(
            group=group,
            patient=patient,
            from_date=start,
            status=MembershipStatus.WAITLISTED,
            waitlist_position=(last or 0) + 1,
            added_by=by,
        )
        detail = "waitlisted"
    else:
        raise GroupFullError(
            _(
                "The group is full (%(n)d of %(cap)d seats, counting seats offered to the "
                "waitlist). Add the patient to the waitlist instead."
            )
            % {"n": taken, "cap": group.capacity}
        )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=membership, patient=patient, detail=detail
    )
    return membership


def _offer_take_seat(
    *, group: Group, offer: SeatOffer, by: User | None, start: dt.date, now: dt.datetime
) -> GroupMembership:
    """Accept ``offer``: the caller (membership_add) holds the group's row lock, so two
    accepts are counted one after the other and never exceed the capacity."""
    offer = SeatOffer.objects.select_for_update().get(pk=offer.pk)
    if offer.group_id != group.pk:
        raise SchedulingError(_("This offer is not for this group."))
    if offer.status != OfferStatus.OFFERED:
        raise SchedulingError(_("This offer is no longer open."))
    if offer.expires_at is not None and offer.expires_at <= now:
        raise SchedulingError(_("This offer has expired."))
    if offer.membership_id is None:
        raise SchedulingError(_("This offer is no longer open."))
    membership = (
        GroupMembership.objects.select_for_update()
        .filter(pk=offer.membership_id, status=MembershipStatus.WAITLISTED)
        .first()
    )
    if membership is None:
        raise SchedulingError(_("This offer is no longer open."))
    active = GroupMembership.objects.filter(group=group, status=MembershipStatus.ACTIVE).count()
    # The offer's own seat is what it held; only real members can have filled it.
    if active >= group.capacity:
        raise SchedulingError(_("Sorry, this seat has been filled. You stay on the waitlist."))
    clash = _group_clash(
        sessions=Session.objects.filter(group=group, occurrence_date__gte=start),
        people=[membership.patient],
        as_member=True,
    )
    if clash:
        raise SchedulingError(clash)
    membership.status = MembershipStatus.ACTIVE
    membership.waitlist_position = None
    membership.from_date = max(membership.from_date, start)
    membership.save(update_fields=["status", "waitlist_position", "from_date", "updated_at"])
    _offer_close(offer, status=OfferStatus.ACCEPTED, by=by, now=now)
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=membership,
        patient=membership.patient,
        detail="waitlist -> active (offer accepted)",
    )
    extensions.membership_activated(membership=membership, by=by)
    _waitlist_renumber(group)
    return membership


def _end_membership(membership: GroupMembership, *, on: dt.date, by: User | None) -> None:
    _offers_withdraw_for(membership, by=by)
    if membership.status == MembershipStatus.WAITLISTED or membership.from_date > on:
        # Never had a seat on or before ``on``: nothing to keep as history.
        audit_record(
            actor=by,
            action=AuditAction.DELETE,
            obj=membership,
            patient=membership.patient,
            detail=f"{membership.status} removed",
        )
        membership.delete()
        return
    membership.status = MembershipStatus.ENDED
    membership.to_date = on
    membership.waitlist_position = None
    membership.save(update_fields=["status", "to_date", "waitlist_position", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=membership,
        patient=membership.patient,
        detail="ended",
    )


@transaction.atomic
def membership_end(
    *, membership: GroupMembership, by: User | None, on: dt.date | None = None
) -> None:
    """Take a patient out of a group (last day ``on``, default today), or off its waitlist,
    and offer the freed seat to the head of the waitlist (staff confirm the offer)."""
    _require_staff_of(by, membership.group.program)
    group = _group_locked(membership.group_id)
    membership = GroupMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.status == MembershipStatus.ENDED:
        raise SchedulingError(_("This membership has already ended."))
    today = _local_today(group.program.time_zone)
    _end_membership(membership, on=on or today, by=by)
    _offers_reconcile(group)


@transaction.atomic
def memberships_end_for_patient(*, patient: User, on: dt.date, by: User | None = None) -> int:
    """End all of a patient's live memberships (discharge): seats end after ``on`` (their
    last day), waitlist places (and any seat offered on them) and not-yet-started seats are
    removed, and freed seats are offered to each group's waitlist. Returns how many
    memberships were ended or removed."""
    group_ids = sorted(
        set(
            GroupMembership.objects.filter(
                patient=patient,
                status__in=[MembershipStatus.ACTIVE, MembershipStatus.WAITLISTED],
            ).values_list("group_id", flat=True)
        )
    )
    count = 0
    # Lock groups in id order so two discharges cannot deadlock.
    for group in (
        Group.objects.select_for_update()
        .select_related("program")
        .filter(pk__in=group_ids)
        .order_by("pk")
    ):
        _require_staff_of(by, group.program)
        for membership in GroupMembership.objects.select_for_update().filter(
            group=group,
            patient=patient,
            status__in=[MembershipStatus.ACTIVE, MembershipStatus.WAITLISTED],
        ):
            _end_membership(membership, on=on, by=by)
            count += 1
        _offers_reconcile(group)
    return count


# --- Seat offers (the waitlist moving up) -------------------------------------------------


def _offer_locked(offer: SeatOffer) -> tuple[Group, SeatOffer]:
    # Group first, then the offer: the order every offer path takes, so none deadlock.
    group = _group_locked(offer.group_id)
    locked = (
        # of=self: the membership join is nullable, and only the offer row needs the lock.
        SeatOffer.objects.select_for_update(of=("self",))
        .select_related("patient", "membership")
        .get(pk=offer.pk)
    )
    return group, locked


@transaction.atomic
def seat_offers_fill(*, group: Group, by: User | None) -> list[SeatOffer]:
    """Offer any free seat to the waitlist now (e.g. after skipping the only patient)."""
    _require_staff_of(by, group.program)
    return _offers_reconcile(_group_locked(group.pk), include_passed_over=True)


@transaction.atomic
def seat_offer_confirm(*, offer: SeatOffer, by: User, now: dt.datetime | None = None) -> SeatOffer:
    """Staff agree the seat goes to this patient: the patient is told (once: the outbox
    dedupes by the offer's event key) and has the program's offer hours to answer."""
    from django.urls import reverse

    group, offer = _offer_locked(offer)
    _require_staff_of(by, group.program)
    if offer.status != OfferStatus.PENDING:
        raise SchedulingError(_("This offer was already handled."))
    now = now or timezone.now()
    offer.status = OfferStatus.OFFERED
    offer.confirmed_by = by
    offer.confirmed_at = now
    offer.expires_at = now + dt.timedelta(hours=group.program.seat_offer_hours)
    offer.save(update_fields=["status", "confirmed_by", "confirmed_at", "expires_at", "updated_at"])
    notification_schedule(
        recipient=offer.patient,
        kind="seat_offered",
        event_key=_offer_event_key(offer),
        context={
            "offer_id": offer.pk,
            "group_id": group.pk,
            "expires_at": offer.expires_at,
            "link": reverse("scheduling:my_week"),
        },
    )
    audit_record(
        actor=by, action=AuditAction.TRANSITION, obj=offer, patient=offer.patient, detail="offered"
    )
    return offer


@transaction.atomic
def seat_offer_skip(*, offer: SeatOffer, by: User, now: dt.datetime | None = None) -> SeatOffer:
    """Staff pass this patient over for this seat (before telling them): they go to the back
    of the waitlist and the seat is offered to the next in line."""
    group, offer = _offer_locked(offer)
    _require_staff_of(by, group.program)
    if offer.status != OfferStatus.PENDING:
        raise SchedulingError(_("This offer was already handled."))
    now = now or timezone.now()
    _offer_close(offer, status=OfferStatus.SKIPPED, by=by, now=now)
    if offer.membership is not None:
        _waitlist_to_back(offer.membership)
    _offers_reconcile(group, now=now)
    return offer


@transaction.atomic
def seat_offer_accept(
    *, offer: SeatOffer, by: User, now: dt.datetime | None = None
) -> GroupMembership:
    """The patient takes the seat offered to them (through ``membership_add``)."""
    if by.pk != offer.patient_id:
        raise SchedulingError(_("This offer is not yours."))
    return membership_add(group=offer.group, patient=by, by=by, offer=offer, now=now)


@transaction.atomic
def seat_offer_decline(*, offer: SeatOffer, by: User, now: dt.datetime | None = None) -> SeatOffer:
    """The patient says no: they leave this group's waitlist (staff can put them back) and
    the seat is offered to the next in line."""
    if by.pk != offer.patient_id:
        raise SchedulingError(_("This offer is not yours."))
    group, offer = _offer_locked(offer)
    if offer.status != OfferStatus.OFFERED:
        raise SchedulingError(_("This offer is no longer open."))
    now = now or timezone.now()
    _offer_close(offer, status=OfferStatus.DECLINED, by=by, now=now)
    if offer.membership is not None:
        _end_membership(offer.membership, on=_local_today(group.program.time_zone, now), by=by)
    _offers_reconcile(group, now=now)
    return offer


def seat_offers_expire(*, now: dt.datetime | None = None) -> int:
    """Close offers past their time (the periodic task): each patient goes to the back of
    the waitlist and the seat is offered to the next in line. One transaction per offer;
    an offer accepted meanwhile is left alone. Returns how many expired."""
    now = now or timezone.now()
    expired = 0
    due = SeatOffer.objects.filter(status=OfferStatus.OFFERED, expires_at__lte=now)
    for offer in list(due.only("pk", "group_id")):
        with transaction.atomic():
            group, offer = _offer_locked(offer)
            if not offer.is_expired(now):
                continue  # answered while we waited for the lock
            _offer_close(offer, status=OfferStatus.EXPIRED, by=None, now=now)
            if offer.membership is not None:
                _waitlist_to_back(offer.membership)
            _offers_reconcile(group, now=now)
            expired += 1
    return expired


# --- Attendance ---------------------------------------------------------------------------


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
    from apps.scheduling.selectors import sessions_for_patient

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
    from apps.scheduling.selectors import session_roster

    _require_staff_of(by, session.group.program)
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


# --- Availability and appointments -------------------------------------------------------


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
    from apps.scheduling.selectors import sessions_for_patient

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
        _require_staff_of(by, program)
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
        _require_staff_of(by, appointment.program)


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
                    "link": "/schedule/",
                },
            )
    return len(appointments)


# --- Calendar feeds -----------------------------------------------------------------------


@transaction.atomic
def calendar_feed_rotate(*, user: User) -> CalendarFeed:
    """Issue a new secret token; the old subscription URL stops working at once."""
    from apps.scheduling.models import _feed_token

    feed, _created = CalendarFeed.objects.select_for_update().get_or_create(user=user)
    if not _created:
        feed.token = _feed_token()
        feed.rotated_at = timezone.now()
        feed.save(update_fields=["token", "rotated_at"])
    audit_record(actor=user, action=AuditAction.UPDATE, obj=feed, detail="feed token rotated")
    return feed


@transaction.atomic
def calendar_feed_revoke(*, user: User) -> None:
    CalendarFeed.objects.filter(user=user).delete()
    audit_record(
        actor=user,
        action=AuditAction.DELETE,
        object_type="scheduling.calendarfeed",
        detail="feed revoked",
    )
