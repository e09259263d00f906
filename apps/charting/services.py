"""Writing the record: start a note, autosave a draft, sign, co-sign, add an addendum,
withhold from the portal, and the same for group notes. Each service checks who may do it,
then writes in one transaction and records an audit event."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.http import is_staff
from apps.accounts.selectors import patient_get_for_viewer, program_for_patient
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.charting import selectors
from apps.charting.forms import missing_required
from apps.charting.models import (
    Addendum,
    Cosignature,
    GroupNote,
    Modality,
    Note,
    NoteTemplate,
    PsychotherapyNote,
    Risk,
    Withholding,
)
from apps.charting.signing import signature_verify
from apps.enrollment.models import TreatmentGoal
from apps.scheduling.models import PLACE_OF_SERVICE, Appointment, Session
from apps.scheduling.selectors import session_is_facilitator
from apps.video.models import Seat

if TYPE_CHECKING:
    from apps.accounts.models import User


class NoteError(ValidationError):
    pass


def _audit(by: User, action: str, obj: Any, patient: User | None, detail: str) -> None:
    audit_record(actor=by, action=action, obj=obj, patient=patient, detail=detail)


def _visit_location(appointment: Appointment) -> tuple[str, str]:
    """Where the patient said they were when they joined the video visit, if they did."""
    seat = (
        Seat.objects.filter(room__appointment=appointment, user=appointment.patient)
        .exclude(location="")
        .first()
    )
    return (seat.location, seat.location_place) if seat else ("", "")


@transaction.atomic
def note_start_for_appointment(
    *, appointment: Appointment, by: User, template: NoteTemplate | None = None
) -> Note:
    """The appointment's note: the existing one, or a new draft filled from the visit (time,
    modality, the patient's location and place of service). Only its clinician writes it."""
    if appointment.clinician_id != by.pk:
        raise PermissionDenied
    existing = Note.objects.filter(appointment=appointment).first()
    if existing is not None:
        return existing
    template = template or selectors.template_default_for(appointment.kind)
    if template is None:
        raise NoteError(_("No note templates are loaded."), code="templates")
    location, place = _visit_location(appointment)
    tz = appointment.program.time_zone
    try:
        with transaction.atomic():
            note = Note.objects.create(
                patient=appointment.patient,
                program=appointment.program,
                author=by,
                template=template,
                appointment=appointment,
                service_date=appointment.starts_at.astimezone(tz).date(),
                started_at=appointment.starts_at,
                ended_at=appointment.ends_at,
                modality=Modality.VIDEO,
                location=location,
                location_place=place,
                place_of_service=PLACE_OF_SERVICE.get(location, ""),  # type: ignore[call-overload]
            )
    except IntegrityError:  # a second tab started it at the same moment
        return Note.objects.get(appointment=appointment)
    _audit(by, AuditAction.CREATE, note, appointment.patient, "note started")
    return note


@transaction.atomic
def note_start(*, patient: User, by: User, template: NoteTemplate) -> Note:
    """A note not tied to an appointment (an assessment, a phone contact)."""

    if not is_staff(by) or patient_get_for_viewer(viewer=by, patient_id=patient.pk) is None:
        raise PermissionDenied
    program = program_for_patient(user=patient)
    if program is None:
        raise NoteError(_("This person is not in a program."), code="program")
    if not template.is_active or template.kind == "group":
        raise NoteError(_("Choose one of the offered templates."), code="template")
    note = Note.objects.create(
        patient=patient,
        program=program,
        author=by,
        template=template,
        service_date=timezone.now().astimezone(program.time_zone).date(),
    )
    _audit(by, AuditAction.CREATE, note, patient, "note started")
    return note


def _locked(note: Note, by: User) -> Note:
    """The draft, row-locked, if ``by`` is its author; raises otherwise."""
    note = Note.objects.select_for_update().get(pk=note.pk)
    if note.author_id != by.pk:
        raise PermissionDenied
    if note.is_signed():
        raise NoteError(
            _("This note is signed and cannot be changed. Add an addendum instead."), code="signed"
        )
    return note


@transaction.atomic
def note_save_draft(
    *, note: Note, by: User, content: dict[str, Any], details: dict[str, Any], seq: int = 0
) -> bool:
    """Store the draft's answers and details. A save older than the last one applied (an
    autosave that arrived late) changes nothing and returns False."""
    note = _locked(note, by)
    if seq and seq <= note.draft_seq:
        return False
    tz = note.program.time_zone
    day = details["service_date"]
    note.content = content
    note.service_date = day
    note.started_at = _at(day, details.get("start_time"), tz)
    note.ended_at = _at(day, details.get("end_time"), tz)
    for name in (
        "modality",
        "location",
        "location_place",
        "place_of_service",
        "risk",
        "risk_notes",
        "safety_plan_reviewed",
    ):
        setattr(note, name, details.get(name) or ("" if name != "safety_plan_reviewed" else False))
    note.risk = details.get("risk") or Risk.NONE
    note.draft_seq = seq or note.draft_seq
    note.save()
    goal_ids = [int(g) for g in details.get("goals") or []]
    allowed = set(
        TreatmentGoal.objects.filter(pk__in=goal_ids, plan__patient_id=note.patient_id).values_list(
            "pk", flat=True
        )
    )
    note.goals.set(sorted(allowed))
    _audit(by, AuditAction.UPDATE, note, note.patient, "note draft saved")
    return True


def _at(day: dt.date, time: dt.time | None, tz: dt.tzinfo) -> dt.datetime | None:
    return dt.datetime.combine(day, time, tzinfo=tz) if time else None


@transaction.atomic
def note_load_last(*, note: Note, by: User) -> bool:
    """Start the draft from the patient's last signed note on the same template."""
    note = _locked(note, by)
    last = selectors.last_signed_note(patient=note.patient, template=note.template, before=note)
    if last is None:
        return False
    note.content = dict(last.content)
    note.save(update_fields=["content", "updated_at"])
    _audit(by, AuditAction.UPDATE, note, note.patient, f"loaded note {last.pk}")
    return True


def _sign_problems(note: Note) -> list[str]:
    problems = [
        _("%(field)s is required.") % {"field": label}
        for label in missing_required(note.template.spec.fields, note.content)
    ]
    problems += _risk_problems(note)
    return problems


def _risk_problems(note: Note) -> list[str]:
    if note.risk != Risk.NONE and not note.safety_plan_reviewed:
        return [_("Risk is marked: review the safety plan with the patient and tick that you did.")]
    return []


def _late(program: Any, ended: dt.datetime | None, day: dt.date, now: dt.datetime) -> bool:
    hours = selectors.policy_for(program).late_after_hours
    end = ended or dt.datetime.combine(day, dt.time(23, 59), tzinfo=program.time_zone)
    return now - end > dt.timedelta(hours=hours)


@transaction.atomic
def note_sign(*, note: Note, by: User, typed_name: str, secret: str) -> Note:
    """Sign and lock a draft. Checks the signature, the template's required fields and the
    risk rule; decides whether it is late and who must co-sign. A second submit finds the
    note signed and changes nothing."""
    if note.group_note_id:
        raise NoteError(_("A group member's part is signed with its group note."), code="group")
    note = _locked(note, by)
    problems = _sign_problems(note)
    if problems:
        raise NoteError(problems, code="incomplete")
    signature = signature_verify(user=by, typed_name=typed_name, secret=secret)
    now = timezone.now()
    Note.objects.filter(pk=note.pk, signed_at__isnull=True).update(
        signed_at=now,
        signature=signature,
        is_late=_late(note.program, note.ended_at, note.service_date, now),
        cosigner=selectors.supervisor_for(program=note.program, clinician=by),
        updated_at=now,
    )
    note.refresh_from_db()
    _audit(
        by, AuditAction.SIGN, note, note.patient, "note signed" + (" late" if note.is_late else "")
    )
    return note


# --- group notes ----------------------------------------------------------------------------


def _group_template() -> NoteTemplate:
    template = NoteTemplate.objects.filter(is_active=True, kind="group").order_by("slug").first()
    if template is None:
        raise NoteError(_("No group note template is loaded."), code="templates")
    return template


@transaction.atomic
def group_note_start(*, session: Session, by: User) -> GroupNote:
    """The session's group note, created on first use by a facilitator, with a part for every
    attendee; later attendees get their part when the page is opened again."""
    if not session_is_facilitator(user=by, session=session):
        raise PermissionDenied
    group_note = GroupNote.objects.select_for_update().filter(session=session).first()
    if group_note is None:
        program = session.group.program
        group_note = GroupNote.objects.create(
            session=session,
            program=program,
            author=by,
            template=_group_template(),
            service_date=session.starts_at.astimezone(program.time_zone).date(),
            started_at=session.starts_at,
            ended_at=session.ends_at,
            content={"topic": session.topic} if session.topic else {},
        )
        _audit(by, AuditAction.CREATE, group_note, None, "group note started")
    if not group_note.is_signed():
        _sync_members(group_note)
    return group_note


def _sync_members(group_note: GroupNote) -> None:
    have = set(group_note.member_notes.values_list("patient_id", flat=True))
    for attendance in selectors.session_attendees(group_note.session):
        if attendance.patient_id in have:
            continue
        Note.objects.create(
            patient=attendance.patient,
            program=group_note.program,
            author=group_note.author,
            template=group_note.template,
            group_note=group_note,
            service_date=group_note.service_date,
            started_at=attendance.first_joined_at or group_note.started_at,
            ended_at=group_note.ended_at,
            modality=group_note.modality,
            location=attendance.location,
            location_place=attendance.location_place,
            place_of_service=attendance.place_of_service,
        )


@transaction.atomic
def group_note_save_draft(
    *,
    group_note: GroupNote,
    by: User,
    shared: dict[str, Any],
    members: dict[int, dict[str, Any]],
    seq: int = 0,
) -> bool:
    """Store the shared part and each attendee's part. Stale autosaves change nothing."""
    group_note = GroupNote.objects.select_for_update().get(pk=group_note.pk)
    if group_note.author_id != by.pk:
        raise PermissionDenied
    if group_note.is_signed():
        raise NoteError(_("This group note is signed and cannot be changed."), code="signed")
    if seq and seq <= group_note.draft_seq:
        return False
    group_note.content = shared
    group_note.draft_seq = seq or group_note.draft_seq
    group_note.save()
    fields = group_note.template.spec.member_fields
    for part in group_note.member_notes.all():
        data = members.get(part.patient_id)
        if data is None:
            continue
        part.content = {f.id: data[f.id] for f in fields if data.get(f.id) not in (None, "", [])}
        part.risk = data.get("risk") or Risk.NONE
        part.safety_plan_reviewed = bool(data.get("safety_plan_reviewed"))
        part.save()
    _audit(by, AuditAction.UPDATE, group_note, None, "group note draft saved")
    return True


@transaction.atomic
def group_note_sign(*, group_note: GroupNote, by: User, typed_name: str, secret: str) -> GroupNote:
    """Sign the shared part and every attendee's part at once."""
    group_note = GroupNote.objects.select_for_update().get(pk=group_note.pk)
    if group_note.author_id != by.pk:
        raise PermissionDenied
    if group_note.is_signed():
        raise NoteError(_("This group note is already signed."), code="signed")
    spec = group_note.template.spec
    parts = list(group_note.member_notes.select_related("patient"))
    problems = [
        _("%(field)s is required.") % {"field": label}
        for label in missing_required(spec.fields, group_note.content)
    ]
    for part in parts:
        who = part.patient.full_name
        problems += [
            _("%(who)s: %(field)s is required.") % {"who": who, "field": label}
            for label in missing_required(spec.member_fields, part.content)
        ]
        problems += [f"{who}: {p}" for p in _risk_problems(part)]
    if problems:
        raise NoteError(problems, code="incomplete")
    signature = signature_verify(user=by, typed_name=typed_name, secret=secret)
    now = timezone.now()
    fields = {
        "signed_at": now,
        "signature": signature,
        "is_late": _late(group_note.program, group_note.ended_at, group_note.service_date, now),
        "cosigner": selectors.supervisor_for(program=group_note.program, clinician=by),
        "updated_at": now,
    }
    GroupNote.objects.filter(pk=group_note.pk, signed_at__isnull=True).update(**fields)
    Note.objects.filter(group_note=group_note, signed_at__isnull=True).update(**fields)
    group_note.refresh_from_db()
    _audit(by, AuditAction.SIGN, group_note, None, f"group note signed, {len(parts)} members")
    for part in parts:
        _audit(by, AuditAction.SIGN, part, part.patient, "group note part signed")
    return group_note


# --- after signing ------------------------------------------------------------------------


@transaction.atomic
def cosign(*, note: Note | GroupNote, by: User, typed_name: str, secret: str) -> Cosignature:
    """The supervisor's co-signature. Only the supervisor the note waits for may give it."""
    if note.cosigner_id != by.pk or not note.is_signed():
        raise PermissionDenied
    if Cosignature.objects.filter(**_target(note)).exists():
        raise NoteError(_("This note is already co-signed."), code="cosigned")
    signature = signature_verify(user=by, typed_name=typed_name, secret=secret)
    try:
        with transaction.atomic():
            row = Cosignature.objects.create(
                supervisor=by, signature=signature, signed_at=timezone.now(), **_target(note)
            )
    except IntegrityError as exc:
        raise NoteError(_("This note is already co-signed."), code="cosigned") from exc
    _audit(by, AuditAction.SIGN, note, getattr(note, "patient", None), "co-signed")
    return row


def _target(note: Note | GroupNote) -> dict[str, Any]:
    return {"group_note": note} if isinstance(note, GroupNote) else {"note": note}


@transaction.atomic
def addendum_add(
    *, note: Note | GroupNote, by: User, body: str, typed_name: str, secret: str
) -> Addendum:
    """A dated, signed addendum under a signed note, by a clinician who may see the patient
    (the caller has checked that) — for a group note's shared part, its author."""
    if not note.is_signed():
        raise NoteError(_("A draft is edited, not amended."), code="draft")
    if isinstance(note, GroupNote) and note.author_id != by.pk:
        raise PermissionDenied
    if not is_staff(by):
        raise PermissionDenied
    body = body.strip()
    if not body:
        raise NoteError(_("Write the addendum."), code="empty")
    signature = signature_verify(user=by, typed_name=typed_name, secret=secret)
    row = Addendum.objects.create(
        author=by, body=body, signature=signature, signed_at=timezone.now(), **_target(note)
    )
    _audit(by, AuditAction.CREATE, note, getattr(note, "patient", None), "addendum")
    return row


@transaction.atomic
def note_withhold(*, note: Note, by: User, reason: str) -> Withholding:
    """Keep a signed note from the patient's portal for a listed reason."""
    if not is_staff(by) or not note.is_signed():
        raise PermissionDenied
    if reason not in selectors.policy_for(note.program).reasons:
        raise NoteError(_("Choose one of the program's reasons."), code="reason")
    try:
        with transaction.atomic():
            row = Withholding.objects.create(note=note, reason=reason, by=by, at=timezone.now())
    except IntegrityError as exc:
        raise NoteError(_("This note is already withheld."), code="withheld") from exc
    _audit(by, AuditAction.UPDATE, note, note.patient, "withheld from patient")
    return row


@transaction.atomic
def note_release(*, note: Note, by: User) -> bool:
    if not is_staff(by):
        raise PermissionDenied
    lifted = Withholding.objects.filter(note=note, lifted_at__isnull=True).update(
        lifted_at=timezone.now(), lifted_by=by
    )
    if lifted:
        _audit(by, AuditAction.UPDATE, note, note.patient, "released to patient")
    return bool(lifted)


@transaction.atomic
def psychotherapy_note_add(
    *, by: User, patient: User, body: str, appointment: Appointment | None = None
) -> PsychotherapyNote:
    """The author's separate process note. Only clinicians who see the patient write one."""
    if selectors.psychotherapy_patient_get(viewer=by, patient_id=patient.pk) is None:
        raise PermissionDenied
    row = PsychotherapyNote.objects.create(
        author=by, patient=patient, body=body, appointment=appointment
    )
    _audit(by, AuditAction.CREATE, row, patient, "psychotherapy note")
    return row
