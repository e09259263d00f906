"""Reads for homework, and the one place the access rule lives.

Answers are clinical data: an assignment is visible to its patient and to clinicians who work
in the patient's program (``patients_visible_to``). Program admins manage content in Django
admin but do not read answers here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.accounts.selectors import patients_visible_to
from apps.homework.models import (
    OPEN_STATUSES,
    Assignment,
    AssignmentStatus,
    Module,
)
from apps.scheduling.curriculum import topic_module
from apps.scheduling.models import MembershipStatus

if TYPE_CHECKING:
    import datetime as dt

    from apps.scheduling.models import Group, Session


def is_reviewer(user: User) -> bool:
    return bool(user.is_authenticated and user.role == Role.CLINICIAN)


def _with_progress(qs: QuerySet[Assignment]) -> QuerySet[Assignment]:
    return (
        qs.select_related("module", "module_version", "assigned_by", "session")
        .defer("module_version__content")
        .annotate(steps_done=Count("responses", filter=Q(responses__complete=True)))
    )


def assignments_visible_to(*, user: User) -> QuerySet[Assignment]:
    """Every assignment ``user`` may read: their own (patient) or their programs' patients'
    (clinician). Nobody else."""
    if not user.is_authenticated:
        return Assignment.objects.none()
    if user.role == Role.PATIENT:
        return Assignment.objects.filter(patient=user)
    if user.role == Role.CLINICIAN:
        return Assignment.objects.filter(patient__in=patients_visible_to(user=user))
    return Assignment.objects.none()


def assignment_get_for_patient(*, user: User, assignment_id: int) -> Assignment | None:
    """The patient's own assignment (to work on), else None."""
    if not user.is_authenticated or user.role != Role.PATIENT:
        return None
    return (
        Assignment.objects.select_related("module", "module_version", "assigned_by")
        .filter(pk=assignment_id, patient=user)
        .first()
    )


def assignment_get_for_reviewer(*, user: User, assignment_id: int) -> Assignment | None:
    """An assignment of a patient in one of the clinician's programs, else None."""
    if not is_reviewer(user):
        return None
    return (
        assignments_visible_to(user=user)
        .select_related("module", "module_version", "assigned_by", "patient")
        .filter(pk=assignment_id)
        .first()
    )


def patient_homework(*, patient: User) -> QuerySet[Assignment]:
    """The patient's homework list, with ``steps_done`` per assignment (one query)."""
    return _with_progress(Assignment.objects.filter(patient=patient)).order_by(
        "status", "due_date", "-created_at"
    )


def patient_homework_open(*, patient: User, limit: int = 5) -> list[Assignment]:
    return list(patient_homework(patient=patient).filter(status__in=OPEN_STATUSES)[:limit])


def modules_published() -> QuerySet[Module]:
    return Module.objects.filter(is_published=True, current_version__isnull=False).order_by(
        "skill_area", "title"
    )


def reviewer_queue(*, user: User) -> QuerySet[Assignment]:
    """Submitted assignments awaiting the clinician's review, oldest first."""
    if not is_reviewer(user):
        return Assignment.objects.none()
    return (
        _with_progress(assignments_visible_to(user=user).filter(status=AssignmentStatus.SUBMITTED))
        .select_related("patient")
        .order_by("submitted_at")
    )


def reviewer_patient_homework(*, user: User, patient: User) -> QuerySet[Assignment]:
    if not is_reviewer(user):
        return Assignment.objects.none()
    return _with_progress(assignments_visible_to(user=user).filter(patient=patient)).order_by(
        "-created_at"
    )


def status_counts(assignments: list[Assignment]) -> dict[str, int]:
    """Assigned / in progress / submitted / reviewed / overdue counts of a list."""
    today = timezone.localdate()
    counts = {s.value: 0 for s in AssignmentStatus}
    counts["overdue"] = 0
    for a in assignments:
        counts[a.status] += 1
        if a.status in OPEN_STATUSES and a.due_date and a.due_date < today:
            counts["overdue"] += 1
    return counts


def group_active_members(*, group: Group) -> list[User]:
    """Patients with an active seat in ``group`` today (waitlisted and ended members are not
    given group homework)."""
    today = timezone.localdate(timezone=group.program.time_zone)
    # One filter() call, so every condition applies to the same membership row.
    return list(
        User.objects.filter(
            Q(group_memberships__to_date__isnull=True) | Q(group_memberships__to_date__gte=today),
            role=Role.PATIENT,
            is_active=True,
            group_memberships__group=group,
            group_memberships__status=MembershipStatus.ACTIVE,
            group_memberships__from_date__lte=today,
        )
        .distinct()
        .order_by("full_name", "pk")
    )


def group_homework(*, group: Group) -> dict[str, Any]:
    """The group view: active members × modules assigned to the group, each cell the
    member's copy (or None). A constant number of queries whatever the group's size."""
    members = group_active_members(group=group)
    assignments = list(
        _with_progress(Assignment.objects.filter(group=group, patient__in=members))
        .select_related("session")
        .order_by("module__title", "-created_at")
    )
    modules: list[Module] = []
    cells: dict[tuple[int, int], Assignment] = {}
    for a in assignments:
        if a.module not in modules:
            modules.append(a.module)
        cells.setdefault((a.patient_id, a.module_id), a)
    rows = [
        {"patient": m, "cells": [cells.get((m.pk, mod.pk)) for mod in modules]} for m in members
    ]
    return {
        "members": members,
        "modules": modules,
        "rows": rows,
        "counts": status_counts(assignments),
    }


def module_catalogue() -> dict[str, str]:
    """``{slug: title}`` of the modules a group's curriculum topic may name (every module
    with content, published or not: an admin may plan ahead)."""
    return dict(Module.objects.filter(current_version__isnull=False).values_list("slug", "title"))


def module_suggested_for_session(*, session: Session) -> Module | None:
    """The published module of the session's curriculum topic (the group's topic with the
    session's topic as title), or None. The caller has decided the viewer may see the
    session."""
    slug = topic_module(session.group.curriculum_topics, session.topic)
    return modules_published().filter(slug=slug).first() if slug else None


def group_open_assignments(*, group: Group, today: dt.date) -> list[Assignment]:
    """The group's open group-level assignments, one per module: the latest copy assigned
    to the group (which carries the due date, note, session and assigner every member got).

    Group homework is stored as each member's own copy with ``group`` set; there is no
    separate row for "the group's assignment". So it is *open* when:
    - it has a due date: that date is today or later (past-due ones are closed to newcomers);
    - it has none: some copy of it is still being worked on (assigned or in progress) — once
      every member has submitted, the group has moved on."""
    latest: dict[int, Assignment] = {}
    for a in (
        Assignment.objects.filter(group=group)
        .select_related("module", "assigned_by", "session")
        .order_by("module_id", "-created_at", "-pk")
    ):
        latest.setdefault(a.module_id, a)
    still_worked_on = set(
        Assignment.objects.filter(group=group, status__in=OPEN_STATUSES).values_list(
            "module_id", flat=True
        )
    )
    return [
        a
        for a in latest.values()
        if (a.due_date >= today if a.due_date is not None else a.module_id in still_worked_on)
    ]
