"""Who may read which note, and the lists clinicians work from (notes due, to co-sign).

The rules, in one place:
- staff (clinicians of the patient's program, admins) read a patient's signed notes; a draft
  is read and written by its author only;
- a patient reads their own signed notes when the program has open notes and the note is
  not withheld, and of a group note only the shared part and their own part;
- psychotherapy notes are read by their author only, never listed in the chart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.accounts.http import is_staff
from apps.accounts.models import Role, User
from apps.accounts.selectors import patients_visible_to
from apps.charting.models import (
    Addendum,
    DocumentationPolicy,
    GroupNote,
    Note,
    NoteTemplate,
    PsychotherapyNote,
    Supervision,
    Withholding,
)
from apps.measures.models import MeasureResponse
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff
from apps.scheduling.models import (
    ATTENDED_STATUSES,
    Appointment,
    AppointmentStatus,
    Attendance,
    Session,
    SessionStatus,
)
from apps.scheduling.selectors import session_is_facilitator

# How far back "notes due" looks: older gaps are the admins' overdue report's business.
DUE_WINDOW = dt.timedelta(days=60)


def policy_for(program: Program) -> DocumentationPolicy:
    policy = DocumentationPolicy.objects.filter(program=program).first()
    return policy or DocumentationPolicy(program=program)


def _with_details(qs: QuerySet[Note]) -> QuerySet[Note]:
    return qs.select_related(
        "template",
        "author",
        "patient",
        "cosigner",
        "cosignature__supervisor",
        "group_note__session__group",
    ).prefetch_related(
        Prefetch("addenda", queryset=Addendum.objects.select_related("author")),
        Prefetch(
            "withholdings",
            queryset=Withholding.objects.filter(lifted_at__isnull=True).select_related("by"),
            to_attr="open_withholdings",
        ),
        "goals",
    )


def _open_withholding() -> Exists:
    return Exists(Withholding.objects.filter(note=OuterRef("pk"), lifted_at__isnull=True))


def note_get_for_viewer(*, viewer: User, note_id: int) -> Note | None:
    """The note if ``viewer`` may read it (see the module's rules), else None."""
    if not viewer.is_authenticated:
        return None
    note = _with_details(Note.objects.filter(pk=note_id)).first()
    if note is None:
        return None
    if is_staff(viewer):
        if not patients_visible_to(user=viewer).filter(pk=note.patient_id).exists():
            return None
        if not note.is_signed() and note.author_id != viewer.pk:
            return None
        return note
    if note.patient_id != viewer.pk or not note.is_signed():
        return None
    if not policy_for(note.program).open_notes or note.open_withholdings:  # type: ignore[attr-defined]
        return None
    return note


def note_get_for_author(*, viewer: User, note_id: int) -> Note | None:
    """A draft its author may edit, else None."""
    note = note_get_for_viewer(viewer=viewer, note_id=note_id)
    if note is None or note.author_id != viewer.pk or note.is_signed():
        return None
    return note


def notes_for_chart(*, viewer: User, patient: User) -> list[Note]:
    """A patient's notes on the clinician's chart: every signed note, and the viewer's own
    drafts. The caller has checked that the viewer may see the patient."""
    qs = Note.objects.filter(patient=patient).filter(Q(signed_at__isnull=False) | Q(author=viewer))
    return list(_with_details(qs).order_by("-service_date", "-id"))


def notes_for_patient(*, patient: User) -> list[Note]:
    """The notes a patient reads in the portal: signed, not withheld, open notes on."""
    qs = (
        Note.objects.filter(patient=patient, signed_at__isnull=False)
        .exclude(_open_withholding())
        .select_related(
            "template", "author", "program__documentation_policy", "group_note__session__group"
        )
        .order_by("-service_date", "-id")
    )
    return [n for n in qs if _open_notes(n.program)]


def _open_notes(program: Program) -> bool:
    try:
        return program.documentation_policy.open_notes
    except DocumentationPolicy.DoesNotExist:
        return True


def group_note_get_for_staff(
    *, viewer: User, session_id: int
) -> tuple[Session, GroupNote | None] | None:
    """The session and its group note (None before one is started) when ``viewer`` may
    document it: a facilitator of the session, or a clinician of its program reading a signed
    note. None otherwise."""
    if not is_staff(viewer):
        return None
    session = (
        Session.objects.select_related("group", "group__program").filter(pk=session_id).first()
    )
    if session is None:
        return None
    if not programs_for_staff(user=viewer).filter(pk=session.group.program_id).exists():
        return None
    group_note = (
        GroupNote.objects.select_related("template", "author", "cosignature")
        .filter(session=session)
        .first()
    )
    facilitator = session_is_facilitator(user=viewer, session=session)
    if facilitator or (group_note is not None and group_note.is_signed()):
        return session, group_note
    return None


def group_note_members(group_note: GroupNote) -> list[Note]:
    return list(
        group_note.member_notes.select_related("patient")
        .prefetch_related("goals")
        .order_by("patient__full_name", "patient_id")
    )


def session_attendees(session: Session) -> list[Attendance]:
    """Who attended (present, late, left early), with their minutes: the group note's rows."""
    return list(
        Attendance.objects.filter(session=session, status__in=ATTENDED_STATUSES)
        .select_related("patient")
        .order_by("patient__full_name", "patient_id")
    )


def templates_offered(*, kind: str | None = None) -> list[NoteTemplate]:
    qs = NoteTemplate.objects.filter(is_active=True)
    qs = qs.exclude(kind="group") if kind is None else qs.filter(kind=kind)
    return list(qs.order_by("title"))


def template_default_for(appointment_kind: str) -> NoteTemplate | None:
    for template in templates_offered():
        if appointment_kind in template.spec.default_for:
            return template
    return NoteTemplate.objects.filter(is_active=True, slug="dap").first()


def last_signed_note(*, patient: User, template: NoteTemplate, before: Note) -> Note | None:
    """The patient's latest signed note on the same template, for "Load last note"."""
    return (
        Note.objects.filter(
            patient=patient,
            template__slug=template.slug,
            signed_at__isnull=False,
            group_note__isnull=True,
        )
        .exclude(pk=before.pk)
        .order_by("-service_date", "-signed_at")
        .first()
    )


def supervisor_for(*, program: Program, clinician: User) -> User | None:
    row = (
        Supervision.objects.filter(program=program, clinician=clinician, active=True)
        .select_related("supervisor")
        .first()
    )
    return row.supervisor if row else None


# --- lists clinicians and admins work from ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DueItem:
    """A service held without a signed note."""

    kind: str  # "appointment" | "session"
    pk: int
    title: str
    patient_name: str
    ended_at: dt.datetime
    clinician_id: int
    has_draft: bool


def _appointments_due(*, now: dt.datetime) -> QuerySet[Appointment]:
    signed = Note.objects.filter(appointment=OuterRef("pk"), signed_at__isnull=False)
    draft = Note.objects.filter(appointment=OuterRef("pk"), signed_at__isnull=True)
    return (
        Appointment.objects.filter(
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED],
            ends_at__lte=now,
            ends_at__gte=now - DUE_WINDOW,
        )
        .exclude(Exists(signed))
        .annotate(has_draft=Exists(draft))
        .select_related("patient")
    )


def _sessions_due(*, now: dt.datetime) -> QuerySet[Session]:
    attended = Attendance.objects.filter(session=OuterRef("pk"), status__in=ATTENDED_STATUSES)
    signed = GroupNote.objects.filter(session=OuterRef("pk"), signed_at__isnull=False)
    draft = GroupNote.objects.filter(session=OuterRef("pk"), signed_at__isnull=True)
    return (
        Session.objects.filter(ends_at__lte=now, ends_at__gte=now - DUE_WINDOW)
        .exclude(status=SessionStatus.CANCELLED)
        .filter(Exists(attended))
        .exclude(Exists(signed))
        .annotate(has_draft=Exists(draft))
        .select_related("group")
    )


def notes_due_for(*, clinician: User, now: dt.datetime | None = None) -> list[DueItem]:
    """Sessions the clinician held in the last 60 days that have no signed note, oldest first.
    Two queries."""
    now = now or timezone.now()
    items = [
        DueItem(
            "appointment",
            a.pk,
            a.get_kind_display(),
            a.patient.full_name,
            a.ends_at,
            clinician.pk,
            a.has_draft,  # type: ignore[attr-defined]
        )
        for a in _appointments_due(now=now).filter(clinician=clinician)
    ]
    sessions = (
        _sessions_due(now=now)
        .filter(
            Q(facilitator=clinician)
            | (Q(facilitator__isnull=True) & Q(group__facilitators=clinician))
        )
        .distinct()
    )
    items += [
        DueItem("session", s.pk, s.group.name, "", s.ends_at, clinician.pk, s.has_draft)  # type: ignore[attr-defined]
        for s in sessions
    ]
    return sorted(items, key=lambda i: i.ended_at)


@dataclasses.dataclass(frozen=True)
class OverdueRow:
    clinician: User
    due: int
    overdue: int


def overdue_by_clinician(*, viewer: User, now: dt.datetime | None = None) -> list[OverdueRow]:
    """Admins: per clinician of the viewer's programs, services without a signed note, and
    how many of them are past the program's late threshold."""
    now = now or timezone.now()
    programs = list(programs_for_staff(user=viewer))
    late_after = {p.pk: dt.timedelta(hours=policy_for(p).late_after_hours) for p in programs}
    counts: dict[int, list[int]] = {}
    for a in _appointments_due(now=now).filter(program__in=programs):
        row = counts.setdefault(a.clinician_id, [0, 0])
        row[0] += 1
        row[1] += now - a.ends_at > late_after[a.program_id]
    sessions = (
        _sessions_due(now=now)
        .filter(group__program__in=programs)
        .prefetch_related("group__facilitators")
    )
    for s in sessions:
        who = [s.facilitator_id] if s.facilitator_id else [f.pk for f in s.group.facilitators.all()]
        for pk in who:
            row = counts.setdefault(pk, [0, 0])
            row[0] += 1
            row[1] += now - s.ends_at > late_after[s.group.program_id]
    people = User.objects.in_bulk(list(counts))
    return sorted(
        (
            OverdueRow(people[pk], due, overdue)
            for pk, (due, overdue) in counts.items()
            if pk in people
        ),
        key=lambda r: (-r.overdue, -r.due, r.clinician.full_name),
    )


def to_cosign(*, supervisor: User) -> list[Note | GroupNote]:
    """Signed notes waiting for this supervisor's co-signature, oldest first."""
    notes: list[Note | GroupNote] = list(
        Note.objects.filter(
            cosigner=supervisor,
            signed_at__isnull=False,
            group_note__isnull=True,
            cosignature__isnull=True,
        ).select_related("patient", "author", "template")
    )
    notes += list(
        GroupNote.objects.filter(
            cosigner=supervisor, signed_at__isnull=False, cosignature__isnull=True
        ).select_related("session__group", "author", "template")
    )
    return sorted(notes, key=lambda n: n.signed_at or timezone.now())


def psychotherapy_notes_for(*, author: User, patient: User) -> list[PsychotherapyNote]:
    return list(PsychotherapyNote.objects.filter(author=author, patient=patient))


def note_complete_for_billing(note: Note) -> bool:
    """Signed, and co-signed where a co-signature is needed (group parts: their group note's)."""
    source: Note | GroupNote = note.group_note if note.group_note_id else note  # type: ignore[assignment]
    if not source.is_signed():
        return False
    return source.cosigner_id is None or hasattr(source, "cosignature")


def documentation_timeliness(
    program_ids: list[int], start: dt.date | None, end: dt.date | None
) -> dict[int, str]:
    """Per program: the share of signed notes signed on time (not late), by date of service,
    as "92% of 130". Group notes count once, not once per member."""
    rows: dict[int, list[int]] = {}
    for model, extra in ((Note, Q(group_note__isnull=True)), (GroupNote, Q())):
        qs = model.objects.filter(extra, program_id__in=program_ids, signed_at__isnull=False)
        if start is not None:
            qs = qs.filter(service_date__gte=start)
        if end is not None:
            qs = qs.filter(service_date__lt=end)
        for program_id, late in qs.values_list("program_id", "is_late"):
            row = rows.setdefault(program_id, [0, 0])
            row[0] += 1
            row[1] += not late
    return {
        pid: f"{round(100 * on_time / total)}% of {total}" for pid, (total, on_time) in rows.items()
    }


def screening_results(*, patient: User) -> list[MeasureResponse]:
    """The latest score on each instrument (application screening and since), for intake
    and assessment notes to be read beside. One query."""
    latest: dict[str, MeasureResponse] = {}
    for response in MeasureResponse.objects.filter(patient=patient).order_by("-taken_at", "-id"):
        latest.setdefault(response.instrument, response)
    return sorted(latest.values(), key=lambda r: r.instrument)


def latest_assessment(*, patient: User, slug: str) -> Note | None:
    """The patient's latest signed note on the template ``slug`` (e.g. the ASAM)."""
    return (
        Note.objects.filter(patient=patient, template__slug=slug, signed_at__isnull=False)
        .select_related("template", "author")
        .order_by("-service_date", "-signed_at")
        .first()
    )


# --- what a clinician may write -------------------------------------------------------------


def appointment_get_for_author(*, viewer: User, appointment_id: int) -> Appointment | None:
    """An appointment whose note ``viewer`` writes: its own clinician's."""
    if not viewer.is_authenticated:
        return None
    return (
        Appointment.objects.select_related("program", "patient")
        .filter(pk=appointment_id, clinician_id=viewer.pk)
        .first()
    )


def group_note_draft_for_author(*, viewer: User, session_id: int) -> GroupNote | None:
    """The group note draft (or signed note) ``viewer`` wrote for this session, else None."""
    found = group_note_get_for_staff(viewer=viewer, session_id=session_id)
    if found is None or found[1] is None or found[1].author_id != viewer.pk:
        return None
    return found[1]


def psychotherapy_patient_get(*, viewer: User, patient_id: int) -> User | None:
    """The patient whose psychotherapy notes ``viewer`` keeps: clinicians only (never an
    admin: these are the author's own notes), and only patients they may see."""
    if not viewer.is_authenticated or viewer.role != Role.CLINICIAN:
        return None
    return patients_visible_to(user=viewer).filter(pk=patient_id).first()


def template_offered_get(template_id: int | None) -> NoteTemplate | None:
    """An active template a clinician may start a note on (group notes start from a session)."""
    if not template_id:
        return None
    return NoteTemplate.objects.filter(pk=template_id, is_active=True).exclude(kind="group").first()


def drafts_for(*, author: User) -> tuple[list[Note], list[GroupNote]]:
    """The author's unsigned notes and group notes, oldest first."""
    notes = Note.objects.filter(author=author, signed_at__isnull=True, group_note__isnull=True)
    groups = GroupNote.objects.filter(author=author, signed_at__isnull=True)
    return (
        list(notes.select_related("patient", "template").order_by("service_date")),
        list(groups.select_related("session__group").order_by("service_date")),
    )
