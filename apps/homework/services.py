"""Writes for homework. Every write is audited; callers get the object from a selector (which
holds the access rule) and the services re-check ownership before writing."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.selectors import user_can_see_patient
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.homework.answers import AnswerError, FormData, is_complete, parse_answer, parse_log_entry
from apps.homework.models import (
    LOCKED_STATUSES,
    OPEN_STATUSES,
    Assignment,
    AssignmentStatus,
    Feedback,
    Module,
    Response,
)
from apps.homework.schema import PracticeLogStep, Step
from apps.homework.selectors import group_active_members, group_open_assignments, is_reviewer
from apps.notifications.services import (
    NotificationError,
    notification_schedule,
    notifications_cancel,
)
from apps.scheduling.selectors import group_get_for_staff

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.scheduling.models import Group, GroupMembership, Session

logger = logging.getLogger(__name__)


class HomeworkError(Exception):
    """A refused homework action; ``status`` is the HTTP status a view answers with."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class StepNotFound(HomeworkError):
    status = 404


class AssignmentLocked(HomeworkError):
    status = 409


class InvalidAnswer(HomeworkError):
    status = 422


class NotAllowed(HomeworkError):
    status = 403


@dataclass
class SaveResult:
    response: Response
    applied: bool  # False when a newer save had already been stored (stale retry)


def _event_key(assignment: Assignment) -> str:
    return f"homework.assignment:{assignment.pk}"


def _notify(
    kind: str,
    *,
    recipient: User,
    assignment: Assignment,
    sub_key: str = "",
    due_at: dt.datetime | None = None,
) -> None:
    """Queue a notice through the notifications app (in this transaction: if we roll back,
    nothing is sent). The context holds ids, the due date and a link only; the text is
    rendered by notifications from the kind and the recipient's first name. A refused notice
    never blocks the homework action itself."""
    try:
        notification_schedule(
            recipient=recipient,
            kind=kind,
            event_key=_event_key(assignment) + sub_key,
            context={
                "assignment_id": assignment.pk,
                "due_on": assignment.due_date,
                "link": reverse("homework:work", args=[assignment.pk]),
            },
            due_at=due_at,
        )
    except NotificationError:
        logger.warning("homework notice %s for assignment %s refused", kind, assignment.pk)


def _due_reminder_at(assignment: Assignment) -> dt.datetime | None:
    """18:00 the day before the due date, in the patient's zone; None when already past."""
    if assignment.due_date is None:
        return None
    tz = zoneinfo.ZoneInfo(str(assignment.patient.time_zone))
    at = dt.datetime.combine(assignment.due_date - dt.timedelta(days=1), dt.time(18, 0), tz)
    return at if at > timezone.now() else None


def _schedule_due_reminder(assignment: Assignment) -> None:
    notifications_cancel(
        event_key=_event_key(assignment) + "/due", kinds=["homework_due"], reason="rescheduled"
    )
    at = _due_reminder_at(assignment)
    if at is not None:
        _notify(
            "homework_due",
            recipient=assignment.patient,
            assignment=assignment,
            sub_key="/due",
            due_at=at,
        )


def _cancel_due_reminder(assignment: Assignment) -> None:
    notifications_cancel(
        event_key=_event_key(assignment) + "/due", kinds=["homework_due"], reason="submitted"
    )


def _step(assignment: Assignment, step_id: str) -> Step:
    step = assignment.module_version.spec.step(step_id)
    if step is None:
        raise StepNotFound(_("This step is not part of this homework."))
    return step


def _lock(assignment: Assignment) -> Assignment:
    """Re-read the row under a lock so a save and a submit cannot interleave."""
    locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
    assignment.status = locked.status
    assignment.module_version_id = locked.module_version_id
    return locked


def _check_patient(assignment: Assignment, user: User) -> None:
    if assignment.patient_id != user.pk:
        raise NotAllowed(_("Only the patient can change these answers."))


def _check_reviewer(assignment: Assignment, user: User) -> None:
    if not is_reviewer(user) or not user_can_see_patient(viewer=user, patient=assignment.patient):
        raise NotAllowed(_("You cannot review this patient's homework."))


# --- Assigning --------------------------------------------------------------------------


@transaction.atomic
def assignment_create(
    *,
    clinician: User,
    patient: User,
    module: Module,
    due_date: dt.date | None = None,
    note: str = "",
    group: Group | None = None,
    session: Session | None = None,
) -> tuple[Assignment, bool]:
    """Assign ``module`` to ``patient``. When the patient already has it open (assigned, in
    progress or self-started) that copy is kept and gets the due date and note instead, so
    assigning twice never creates two copies. Returns (assignment, created)."""
    if not is_reviewer(clinician) or not user_can_see_patient(viewer=clinician, patient=patient):
        raise NotAllowed(_("You cannot assign homework to this patient."))
    if module.current_version_id is None:
        raise HomeworkError(_("This module has no content yet."))
    existing = (
        Assignment.objects.select_for_update()
        .filter(patient=patient, module=module, status__in=OPEN_STATUSES)
        .first()
    )
    extra: dict[str, Any] = {}
    if group is not None:
        extra["group"] = group
    if session is not None:
        extra["session"] = session
    if existing is not None:
        existing.assigned_by = clinician
        existing.due_date = due_date
        existing.note = note
        for key, value in extra.items():
            setattr(existing, key, value)
        existing.save(update_fields=["assigned_by", "due_date", "note", "updated_at", *extra])
        audit_record(
            actor=clinician,
            action=AuditAction.UPDATE,
            obj=existing,
            patient=patient,
            detail="homework re-assigned",
        )
        _schedule_due_reminder(existing)
        return existing, False
    assignment = Assignment.objects.create(
        patient=patient,
        module=module,
        module_version_id=module.current_version_id,
        assigned_by=clinician,
        due_date=due_date,
        note=note,
        **extra,
    )
    audit_record(
        actor=clinician,
        action=AuditAction.CREATE,
        obj=assignment,
        patient=patient,
        detail="homework assigned",
    )
    _notify("homework_assigned", recipient=patient, assignment=assignment)
    _schedule_due_reminder(assignment)
    return assignment, True


@dataclass
class GroupAssignResult:
    created: list[Assignment]
    updated: list[Assignment]


@transaction.atomic
def assignment_create_for_group(
    *,
    clinician: User,
    group: Group,
    module: Module,
    due_date: dt.date | None = None,
    note: str = "",
    session: Session | None = None,
) -> GroupAssignResult:
    """Assign ``module`` to every active member of ``group`` (a seat today), optionally tied
    to one of its sessions. Members who already have it open keep their copy (due date and
    note updated), so assigning the group twice creates nothing new."""
    if not is_reviewer(clinician) or group_get_for_staff(user=clinician, group_id=group.pk) is None:
        raise NotAllowed(_("You cannot assign homework to this group."))
    if session is not None and session.group_id != group.pk:
        raise HomeworkError(_("That session belongs to another group."))
    result = GroupAssignResult(created=[], updated=[])
    for patient in group_active_members(group=group):
        assignment, created = assignment_create(
            clinician=clinician,
            patient=patient,
            module=module,
            due_date=due_date,
            note=note,
            group=group,
            session=session,
        )
        (result.created if created else result.updated).append(assignment)
    return result


@transaction.atomic
def group_homework_give_to_new_member(
    *, membership: GroupMembership, by: User | None
) -> list[Assignment]:
    """A patient just got an active seat in a group (scheduling's membership hook): give
    them the group's open assignments (``group_open_assignments``), with the due date, note
    and session the others got. Exactly once: a module they already have from this group
    (any status, e.g. from an earlier seat) or have open anyway is skipped, so adding them
    again creates nothing. The seat was granted by someone allowed to; the assigner shown is
    the clinician who assigned the group."""
    group, patient = membership.group, membership.patient
    if not patient.is_active or patient.role != "patient":
        return []
    today = timezone.localdate(timezone=group.program.time_zone)
    given = []
    for source in group_open_assignments(group=group, today=today):
        module = source.module
        if module.current_version_id is None:
            continue
        if Assignment.objects.filter(
            Q(group=group) | Q(status__in=OPEN_STATUSES), patient=patient, module=module
        ).exists():
            continue
        assignment = Assignment.objects.create(
            patient=patient,
            module=module,
            module_version_id=module.current_version_id,
            assigned_by=source.assigned_by,
            group=group,
            session=source.session,
            due_date=source.due_date,
            note=source.note,
        )
        audit_record(
            actor=by,
            action=AuditAction.CREATE,
            obj=assignment,
            patient=patient,
            detail="group homework given on joining",
        )
        _notify("homework_assigned", recipient=patient, assignment=assignment)
        _schedule_due_reminder(assignment)
        given.append(assignment)
    return given


@transaction.atomic
def assignment_self_start(*, patient: User, module: Module) -> Assignment:
    """A patient starts a published module on their own; an open copy is reused."""
    if patient.role != "patient" or not module.is_published or module.current_version_id is None:
        raise NotAllowed(_("This module is not available."))
    existing = Assignment.objects.filter(
        patient=patient, module=module, status__in=OPEN_STATUSES
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(
                patient=patient, module=module, module_version_id=module.current_version_id
            )
    except IntegrityError:
        # A double click raced us to create it: use the copy that won.
        return Assignment.objects.get(patient=patient, module=module, status__in=OPEN_STATUSES)
    audit_record(
        actor=patient,
        action=AuditAction.CREATE,
        obj=assignment,
        patient=patient,
        detail="homework self-started",
    )
    return assignment


@transaction.atomic
def assignment_open(*, assignment: Assignment, user: User) -> Assignment:
    """The patient opens their assignment (a read, audited). An assignment nobody has started
    moves to the module's current version, so content fixed since assigning is what they see;
    once started it keeps its version."""
    _check_patient(assignment, user)
    if assignment.status == AssignmentStatus.ASSIGNED:
        current = Module.objects.filter(pk=assignment.module_id).values_list(
            "current_version_id", flat=True
        )[0]
        if (
            current not in (None, assignment.module_version_id)
            and not assignment.responses.exists()
        ):
            Assignment.objects.filter(pk=assignment.pk, status=AssignmentStatus.ASSIGNED).update(
                module_version_id=current
            )
            assignment.refresh_from_db()
    audit_record(actor=user, action=AuditAction.VIEW, obj=assignment, patient=user)
    return assignment


def assignment_record_review_read(*, assignment: Assignment, clinician: User) -> None:
    """A clinician read a patient's answers (the selector already checked access)."""
    audit_record(
        actor=clinician,
        action=AuditAction.VIEW,
        obj=assignment,
        patient=assignment.patient,
        detail="homework answers read",
    )


def _start(assignment: Assignment) -> None:
    if assignment.status == AssignmentStatus.ASSIGNED:
        Assignment.objects.filter(pk=assignment.pk, status=AssignmentStatus.ASSIGNED).update(
            status=AssignmentStatus.IN_PROGRESS, started_at=timezone.now()
        )
        assignment.status = AssignmentStatus.IN_PROGRESS


# --- Answering --------------------------------------------------------------------------


@transaction.atomic
def response_save(
    *, assignment: Assignment, user: User, step_id: str, data: FormData, seq: int | None = None
) -> SaveResult:
    """Autosave one step's answer. Idempotent: the same post stores the same value; a post
    whose ``seq`` is not newer than the stored one (a retry that arrived late) is ignored."""
    _check_patient(assignment, user)
    step = _step(assignment, step_id)
    _lock(assignment)
    if assignment.is_locked:
        raise AssignmentLocked(
            _("This homework has been submitted, so answers are locked. Nothing was changed.")
        )
    if isinstance(step, PracticeLogStep):
        raise InvalidAnswer(_("Add practice entries with the entry form."))
    try:
        value = parse_answer(step, data)
    except AnswerError as exc:
        raise InvalidAnswer(str(exc)) from exc
    response, _created = Response.objects.select_for_update().get_or_create(
        assignment=assignment, step_id=step.id
    )
    if seq is not None and seq <= response.client_seq:
        return SaveResult(response=response, applied=False)
    response.value = value
    response.complete = is_complete(step, value)
    response.client_seq = seq if seq is not None else response.client_seq
    response.save(update_fields=["value", "complete", "client_seq", "updated_at"])
    _start(assignment)
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=response,
        patient=user,
        detail=f"homework answer step={step.id}",
    )
    return SaveResult(response=response, applied=True)


def _log_step(assignment: Assignment, step_id: str) -> PracticeLogStep:
    step = _step(assignment, step_id)
    if not isinstance(step, PracticeLogStep):
        raise StepNotFound(_("This step has no practice log."))
    return step


@transaction.atomic
def log_entry_add(
    *, assignment: Assignment, user: User, step_id: str, data: FormData
) -> tuple[Response, bool]:
    """Add a dated entry to a practice log. The entry id comes from the form, so a double
    submit stores it once. Returns (response, added)."""
    _check_patient(assignment, user)
    step = _log_step(assignment, step_id)
    _lock(assignment)
    if assignment.is_locked:
        raise AssignmentLocked(
            _("This homework has been submitted, so answers are locked. Nothing was changed.")
        )
    try:
        entry = parse_log_entry(step, data)
    except AnswerError as exc:
        raise InvalidAnswer(str(exc)) from exc
    response, _created = Response.objects.select_for_update().get_or_create(
        assignment=assignment, step_id=step.id, defaults={"value": {"entries": []}}
    )
    entries = list((response.value or {}).get("entries") or [])
    if any(e.get("id") == entry["id"] for e in entries):
        return response, False
    if len(entries) >= step.max_entries:
        raise InvalidAnswer(
            _("This log is full (%(n)s entries). Delete one to add another.")
            % {"n": step.max_entries}
        )
    entries.append(entry)
    entries.sort(key=lambda e: (e["date"], e.get("time") or ""))
    response.value = {"entries": entries}
    response.complete = is_complete(step, response.value)
    response.save(update_fields=["value", "complete", "updated_at"])
    _start(assignment)
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=response,
        patient=user,
        detail=f"homework log entry added step={step.id}",
    )
    return response, True


@transaction.atomic
def log_entry_delete(
    *, assignment: Assignment, user: User, step_id: str, entry_id: str
) -> Response | None:
    """Remove one entry; deleting an entry that is already gone changes nothing."""
    _check_patient(assignment, user)
    step = _log_step(assignment, step_id)
    _lock(assignment)
    if assignment.is_locked:
        raise AssignmentLocked(
            _("This homework has been submitted, so answers are locked. Nothing was changed.")
        )
    response = (
        Response.objects.select_for_update().filter(assignment=assignment, step_id=step.id).first()
    )
    if response is None:
        return None
    entries = [e for e in (response.value or {}).get("entries") or [] if e.get("id") != entry_id]
    if len(entries) == len((response.value or {}).get("entries") or []):
        return response
    response.value = {"entries": entries}
    response.complete = is_complete(step, response.value)
    response.save(update_fields=["value", "complete", "updated_at"])
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=response,
        patient=user,
        detail=f"homework log entry deleted step={step.id}",
    )
    return response


def incomplete_steps(assignment: Assignment) -> list[Step]:
    done = set(
        Response.objects.filter(assignment=assignment, complete=True).values_list(
            "step_id", flat=True
        )
    )
    return [s for s in assignment.module_version.spec.steps if s.required and s.id not in done]


@transaction.atomic
def assignment_submit(*, assignment: Assignment, user: User) -> bool:
    """Submit and lock the answers. Every required step must be done. Submitting twice is
    harmless: returns False the second time and changes nothing."""
    _check_patient(assignment, user)
    _lock(assignment)
    if assignment.is_locked:
        return False
    missing = incomplete_steps(assignment)
    if missing:
        raise InvalidAnswer(
            _("Please finish these steps first: %(steps)s.")
            % {"steps": ", ".join(s.title for s in missing)}
        )
    now = timezone.now()
    claimed = Assignment.objects.filter(pk=assignment.pk, status__in=OPEN_STATUSES).update(
        status=AssignmentStatus.SUBMITTED, submitted_at=now, started_at=assignment.started_at or now
    )
    if not claimed:
        return False
    assignment.refresh_from_db()
    _cancel_due_reminder(assignment)
    audit_record(
        actor=user,
        action=AuditAction.TRANSITION,
        obj=assignment,
        patient=user,
        detail="homework submitted",
    )
    return True


# --- Reviewing --------------------------------------------------------------------------


@transaction.atomic
def feedback_add(
    *, assignment: Assignment, clinician: User, body: str, reopen: bool = False
) -> Feedback:
    """Leave feedback on a submission (marks it reviewed), optionally reopening it so the
    patient can do more work."""
    _check_reviewer(assignment, clinician)
    body = (body or "").strip()
    if not body:
        raise InvalidAnswer(_("Write some feedback first."))
    if len(body) > 4000:
        raise InvalidAnswer(_("Feedback is limited to 4000 characters."))
    _lock(assignment)
    if assignment.status not in LOCKED_STATUSES:
        raise AssignmentLocked(_("Feedback can be left once the homework is submitted."))
    feedback = Feedback.objects.create(
        assignment=assignment, author=clinician, body=body, reopened=reopen
    )
    now = timezone.now()
    if reopen:
        _reopen(assignment, clinician)
    else:
        Assignment.objects.filter(pk=assignment.pk).update(
            status=AssignmentStatus.REVIEWED, reviewed_at=now
        )
    assignment.refresh_from_db()
    audit_record(
        actor=clinician,
        action=AuditAction.CREATE,
        obj=feedback,
        patient=assignment.patient,
        detail="homework feedback" + (" and reopened" if reopen else ""),
    )
    _notify("homework_feedback", recipient=assignment.patient, assignment=assignment)
    return feedback


def _reopen(assignment: Assignment, clinician: User) -> None:
    # Another open copy of the module (self-started since) would break the one-open rule.
    if (
        Assignment.objects.filter(
            patient_id=assignment.patient_id,
            module_id=assignment.module_id,
            status__in=OPEN_STATUSES,
        )
        .exclude(pk=assignment.pk)
        .exists()
    ):
        raise HomeworkError(
            _("The patient already has this module open; review that copy instead.")
        )
    Assignment.objects.filter(pk=assignment.pk).update(
        status=AssignmentStatus.IN_PROGRESS, submitted_at=None
    )
    audit_record(
        actor=clinician,
        action=AuditAction.TRANSITION,
        obj=assignment,
        patient=assignment.patient,
        detail="homework reopened",
    )


@transaction.atomic
def assignment_reopen(*, assignment: Assignment, clinician: User) -> bool:
    """Unlock a submission for more work. Reopening an open assignment changes nothing."""
    _check_reviewer(assignment, clinician)
    _lock(assignment)
    if assignment.status not in LOCKED_STATUSES:
        return False
    _reopen(assignment, clinician)
    assignment.refresh_from_db()
    return True
