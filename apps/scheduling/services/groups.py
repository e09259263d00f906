"""Groups and their sessions: create and edit a series, generate occurrences over the
horizon, rotate the curriculum, edit or cancel one occurrence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.notifications.services import notification_schedule, notifications_cancel
from apps.programs.selectors import programs_for_staff
from apps.scheduling import curriculum, recurrence
from apps.scheduling.models import Group, MembershipStatus, Session, SessionStatus
from apps.scheduling.selectors import session_roster
from apps.scheduling.services.common import (
    SchedulingError,
    group_clash,
    local_today,
    require_staff_of,
)
from apps.scheduling.services.memberships import offers_reconcile

if TYPE_CHECKING:
    from apps.programs.models import Program


# How far ahead sessions exist; the periodic task keeps extending it.
HORIZON_WEEKS = 8


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
                "link": reverse("scheduling:my_week"),
            },
        )


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
    require_staff_of(by, program)
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
    clash = group_clash(sessions=future, people=facilitators, as_member=False)
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
    today = local_today(tz, now)
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
    require_staff_of(by, group.program)
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
    today = local_today(tz, now)
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
    clash = group_clash(
        sessions=Session.objects.filter(group=group, starts_at__gte=now or timezone.now()),
        people=list(group.facilitators.all()),
        as_member=False,
    )
    if clash:
        raise SchedulingError(clash)  # the transaction rolls the edit back
    # More seats go to the waitlist as offers; fewer withdraw offers no longer covered.
    offers_reconcile(group, now=now)
    audit_record(actor=by, action=AuditAction.UPDATE, obj=group, detail="series edited")
    return group


def _session_member_ids(session: Session) -> list[int]:
    return [member.pk for member in session_roster(session=session)]


@transaction.atomic
def session_cancel(*, session: Session, by: User | None, reason: str) -> Session:
    """Cancel one occurrence (the series is untouched). ``reason`` is shown to patients."""
    if by is not None:
        require_staff_of(by, session.group.program)
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
        require_staff_of(by, session.group.program)
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
        clash = group_clash(
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
