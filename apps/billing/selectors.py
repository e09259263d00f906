"""Billable days: the one computation every billing page, export and notice reads.

For each patient and day (in the program's time zone): the services held (group sessions
attended, appointments held), each with its note's state, the minutes, and the rules:

- every service has a note complete for billing (``note_complete_for_billing``: signed, and
  co-signed where the author is supervised); a group service's note is its group note;
- in a program with a per-diem code, the day reaches the per-diem minimum (attended group
  minutes plus the held appointments' minutes: H0015 counts the whole IOP day);
- when the patient has authorizations, an authorization covers the day and is not used up
  (days or units counted in date order from its first day). A patient with no authorization
  on file (self-pay, or a payer that needs none) is billed on the other rules alone, and the
  page says "no authorization on file".

Claim lines follow from a billable day: the per-diem code once (or, without one, 90853 per
group), plus coded appointments (individual by minutes, intake, family). Medication and case
management visits need their notes too but carry no code here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.apps import apps as django_apps
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.http import is_staff
from apps.accounts.selectors import patient_get_for_viewer
from apps.billing.codes import DEFAULT_CODES, default_per_diem_service
from apps.billing.models import (
    Authorization,
    AuthorizationUnit,
    BillingCode,
    BillingSettings,
    Service,
)
from apps.charting.models import GroupNote, Modality, Note
from apps.charting.selectors import note_complete_for_billing
from apps.enrollment.models import Application, Insurance
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff
from apps.scheduling.models import (
    ATTENDED_STATUSES,
    PLACE_OF_SERVICE,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Attendance,
    SessionStatus,
)

if TYPE_CHECKING:
    from apps.accounts.models import User

# A page or export covers at most this many days (a quarter), so one request stays bounded.
MAX_PERIOD_DAYS = 92
WARN_USED_FRACTION = 0.8
WARN_DAYS_BEFORE_END = 7
TELEHEALTH_POS = ("02", "10")

APPOINTMENT_SERVICE = {
    AppointmentKind.INDIVIDUAL: Service.INDIVIDUAL,
    AppointmentKind.INTAKE: Service.INTAKE,
    AppointmentKind.FAMILY: Service.FAMILY,
}


# --- settings and codes -------------------------------------------------------------------


def settings_for(program: Program) -> BillingSettings:
    """The program's saved settings, or the defaults (unsaved) until an admin saves them."""
    row = BillingSettings.objects.filter(program=program).first()
    return row or BillingSettings(
        program=program,
        clinic_name=program.name,
        per_diem_service=default_per_diem_service(program.kind),
    )


def codes_for(program: Program) -> list[BillingCode]:
    """The program's active codes; the common ones (unsaved) while it has none."""
    rows = list(BillingCode.objects.filter(program=program, active=True))
    return rows or [BillingCode(program=program, **c._asdict()) for c in DEFAULT_CODES]


def _code(codes: list[BillingCode], service: str, minutes: int = 0) -> BillingCode | None:
    for code in codes:
        if code.service == service and code.fits(minutes):
            return code
    return None


# --- diagnoses ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClaimDiagnosis:
    code: str
    description: str


def claim_diagnoses(*, patient: User, day: dt.date) -> list[ClaimDiagnosis]:
    """The ICD-10-CM codes a claim line for ``day`` carries, primary first. Read from the
    diagnoses app when it is installed (``diagnoses_active_on``); until then none."""
    if not django_apps.is_installed("apps.diagnoses"):
        return []
    diagnoses = importlib.import_module("apps.diagnoses.selectors")
    out = []
    for row in diagnoses.diagnoses_active_on(patient=patient, day=day):
        code = getattr(row, "code", None) or getattr(row, "icd10_code", "")
        description = getattr(row, "description", None) or getattr(row, "title", "")
        if code:
            out.append(ClaimDiagnosis(str(code), str(description)))
    return out


# --- billable days ------------------------------------------------------------------------


@dataclasses.dataclass
class ServiceHeld:
    kind: str  # "group" | "appointment"
    title: str  # for staff: the group's name or the appointment kind
    plain: str  # for the patient's statement: plain words, no codes
    started_at: dt.datetime
    minutes: int
    note: Note | None
    appointment: Appointment | None = None
    state: str = ""  # "complete" | "missing" | "unsigned" | "cosign"

    @property
    def complete(self) -> bool:
        return self.state == "complete"

    @property
    def signed_source(self) -> Note | GroupNote | None:
        if self.note is None:
            return None
        return self.note.group_note if self.note.group_note_id else self.note

    @property
    def signers(self) -> list[str]:
        source = self.signed_source
        if source is None or not source.is_signed():
            return []
        names = [source.signature]
        cosignature = getattr(source, "cosignature", None)
        if cosignature is not None:
            names.append(cosignature.signature)
        return names


@dataclasses.dataclass
class ClaimLine:
    day: dt.date
    code: str
    description: str
    modifiers: list[str]
    place_of_service: str
    pos_assumed: bool
    units: int
    minutes: int
    services: list[ServiceHeld]

    @property
    def signers(self) -> list[str]:
        seen: list[str] = []
        for service in self.services:
            seen += [n for n in service.signers if n not in seen]
        return seen

    @property
    def note_ids(self) -> list[int]:
        return [s.note.pk for s in self.services if s.note is not None]


@dataclasses.dataclass
class PatientDay:
    patient: User
    day: dt.date
    services: list[ServiceHeld]
    minutes: int = 0
    reasons: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    lines: list[ClaimLine] = dataclasses.field(default_factory=list)
    authorization: Authorization | None = None

    @property
    def billable(self) -> bool:
        return not self.reasons


@dataclasses.dataclass
class AuthorizationUse:
    authorization: Authorization
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.authorization.authorized - self.used)

    @property
    def fraction(self) -> float:
        return self.used / self.authorization.authorized

    def warnings(self, today: dt.date) -> list[str]:
        out = []
        a = self.authorization
        if self.fraction >= WARN_USED_FRACTION:
            out.append(
                _("%(used)s of %(total)s %(unit)s used")
                % {"used": self.used, "total": a.authorized, "unit": a.get_unit_display().lower()}
            )
        if a.end_date - dt.timedelta(days=WARN_DAYS_BEFORE_END) <= today <= a.end_date:
            out.append(_("ends %(day)s") % {"day": a.end_date.isoformat()})
        return out


@dataclasses.dataclass
class BillingResult:
    program: Program
    settings: BillingSettings
    start: dt.date
    end: dt.date
    days: list[PatientDay]
    authorizations: dict[int, list[AuthorizationUse]]

    def usage_warnings(self, today: dt.date) -> list[tuple[AuthorizationUse, list[str]]]:
        out = []
        for uses in self.authorizations.values():
            for use in uses:
                if warnings := use.warnings(today):
                    out.append((use, warnings))
        return out


def _state(note: Note | None) -> str:
    if note is None:
        return "missing"
    source = note.group_note if note.group_note_id else note
    if not source.is_signed():  # type: ignore[union-attr]
        return "unsigned"
    return "complete" if note_complete_for_billing(note) else "cosign"


def _reason(service: ServiceHeld) -> str:
    what = (
        _("Group note for %(group)s") % {"group": service.title}
        if service.kind == "group"
        else _("%(kind)s note") % {"kind": service.title}
    )
    if service.state == "missing":
        return _("%(what)s not written") % {"what": what}
    if service.state == "unsigned":
        return _("%(what)s not signed") % {"what": what}
    return _("%(what)s waiting for co-signature") % {"what": what}


def _place_of_service(note: Note | None, fallback: str) -> tuple[str, bool]:
    if note is not None:
        if note.place_of_service:
            return note.place_of_service, False
        if note.location in PLACE_OF_SERVICE:
            return PLACE_OF_SERVICE[note.location], False  # type: ignore[index]
    return fallback, True


def _modifiers(note: Note | None, pos: str, settings: BillingSettings) -> list[str]:
    if note is None or pos not in TELEHEALTH_POS:
        return []
    modality = note.group_note.modality if note.group_note_id else note.modality  # type: ignore[union-attr]
    if modality == Modality.VIDEO and settings.telehealth_modifier:
        return [settings.telehealth_modifier]
    if modality == Modality.AUDIO and settings.audio_only_modifier:
        return [settings.audio_only_modifier]
    return []


def _line(
    day: dt.date, code: BillingCode, services: list[ServiceHeld], settings: BillingSettings
) -> ClaimLine:
    note = services[0].note
    pos, assumed = _place_of_service(note, settings.default_place_of_service)
    return ClaimLine(
        day=day,
        code=code.code,
        description=code.description,
        modifiers=_modifiers(note, pos, settings),
        place_of_service=pos,
        pos_assumed=assumed,
        units=1,
        minutes=sum(s.minutes for s in services),
        services=services,
    )


def _lines(pd: PatientDay, settings: BillingSettings, codes: list[BillingCode]) -> list[ClaimLine]:
    groups = [s for s in pd.services if s.kind == "group"]
    visits = [s for s in pd.services if s.kind == "appointment"]
    lines: list[ClaimLine] = []
    per_diem = _code(codes, settings.per_diem_service) if settings.per_diem_service else None
    if groups and per_diem is not None:
        lines.append(_line(pd.day, per_diem, groups, settings))
    elif groups:
        group_code = _code(codes, Service.GROUP)
        if group_code is None:
            pd.warnings.append(_("No group psychotherapy code is set for this program."))
        lines += [_line(pd.day, group_code, [g], settings) for g in groups if group_code]
    for visit in visits:
        assert visit.appointment is not None
        service = APPOINTMENT_SERVICE.get(visit.appointment.kind)  # type: ignore[call-overload]
        if service is None:
            continue  # medication and case management: documented, not coded here
        if (
            per_diem is not None
            and groups
            and service != Service.INTAKE
            and not settings.individual_on_per_diem_days
        ):
            continue
        code = _code(codes, service, visit.minutes)
        if code is None:
            pd.warnings.append(
                _("No code for a %(minutes)s-minute %(kind)s")
                % {"minutes": visit.minutes, "kind": visit.title.lower()}
            )
            continue
        lines.append(_line(pd.day, code, [visit], settings))
    return lines


def _local_bounds(
    program: Program, start: dt.date, end: dt.date
) -> tuple[dt.datetime, dt.datetime]:
    tz = program.time_zone
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def billable_days(
    *,
    program: Program,
    start: dt.date,
    end: dt.date,
    patient_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> BillingResult:
    """Every patient-day of ``program`` in ``start``..``end`` with a service held, decided by
    the module's rules. Authorization use is counted from each authorization's first day, so
    the query range reaches back to it. Six queries, however many patients and days."""
    now = now or timezone.now()
    settings = settings_for(program)  # 1
    codes = codes_for(program)  # 2
    ids = None if patient_ids is None else list(patient_ids)
    auth_qs = Authorization.objects.filter(
        patient__patient_profile__program=program, end_date__gte=start, start_date__lte=end
    )
    if ids is not None:
        auth_qs = auth_qs.filter(patient_id__in=ids)
    # Every authorization of these patients (not only those overlapping): a patient with any
    # authorization on file is held to their windows.
    all_auths = list(
        Authorization.objects.filter(patient_id__in=auth_qs.values("patient_id")).order_by(
            "patient_id", "start_date", "pk"
        )
    )  # 3
    auths: dict[int, list[Authorization]] = defaultdict(list)
    for a in all_auths:
        auths[a.patient_id].append(a)
    reach = min([start, *(a.start_date for a in all_auths if a.end_date >= start)])
    since, until = _local_bounds(program, reach, end)
    until = min(until, now)
    tz = program.time_zone

    attendance_qs = Attendance.objects.filter(
        session__group__program=program,
        session__starts_at__gte=since,
        session__starts_at__lt=until,
        status__in=ATTENDED_STATUSES,
    ).exclude(session__status=SessionStatus.CANCELLED)
    appointment_qs = Appointment.objects.filter(
        program=program,
        starts_at__gte=since,
        starts_at__lt=until,
        ends_at__lte=now,
        status__in=[AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED],
    )
    if ids is not None:
        attendance_qs = attendance_qs.filter(patient_id__in=ids)
        appointment_qs = appointment_qs.filter(patient_id__in=ids)
    attendance = list(attendance_qs.select_related("session__group", "patient"))  # 4
    appointments = list(appointment_qs.select_related("patient"))  # 5
    session_ids = {a.session_id for a in attendance}
    notes = list(
        Note.objects.filter(
            Q(group_note__session_id__in=session_ids)
            | Q(appointment_id__in=[a.pk for a in appointments])
        ).select_related("group_note__cosignature", "cosignature")
    )  # 6
    group_notes = {(n.group_note.session_id, n.patient_id): n for n in notes if n.group_note_id}  # type: ignore[union-attr]
    visit_notes = {n.appointment_id: n for n in notes if n.appointment_id}

    by_day: dict[tuple[int, dt.date], PatientDay] = {}

    def day_of(patient: User, at: dt.datetime) -> PatientDay:
        key = (patient.pk, at.astimezone(tz).date())
        if key not in by_day:
            by_day[key] = PatientDay(patient=patient, day=key[1], services=[])
        return by_day[key]

    for row in attendance:
        session = row.session
        note = group_notes.get((session.pk, row.patient_id))
        day_of(row.patient, session.starts_at).services.append(
            ServiceHeld(
                kind="group",
                title=session.group.name,
                # The patient knows their groups by name; the name carries no code.
                plain=_("Group therapy: %(group)s") % {"group": session.group.name},
                started_at=session.starts_at,
                minutes=row.minutes,
                note=note,
                state=_state(note),
            )
        )
    for visit in appointments:
        note = visit_notes.get(visit.pk)
        minutes = (note.minutes if note is not None else None) or visit.duration_minutes
        day_of(visit.patient, visit.starts_at).services.append(
            ServiceHeld(
                kind="appointment",
                title=str(visit.get_kind_display()),
                plain=str(visit.get_kind_display()),
                started_at=visit.starts_at,
                minutes=minutes,
                note=note,
                appointment=visit,
                state=_state(note),
            )
        )

    used: dict[int, int] = defaultdict(int)
    days = sorted(by_day.values(), key=lambda d: (d.day, d.patient.full_name, d.patient.pk))
    for pd in days:
        pd.services.sort(key=lambda s: s.started_at)
        pd.minutes = sum(s.minutes for s in pd.services)
        pd.reasons = [_reason(s) for s in pd.services if not s.complete]
        if settings.per_diem_service and pd.minutes < settings.per_diem_min_minutes:
            pd.reasons.append(
                _("%(minutes)s of %(minimum)s minutes")
                % {"minutes": pd.minutes, "minimum": settings.per_diem_min_minutes}
            )
        pd.lines = _lines(pd, settings, codes)
        patient_auths = auths.get(pd.patient.pk, [])
        if not patient_auths:
            pd.warnings.append(_("No authorization on file"))
            continue
        covering = next((a for a in patient_auths if a.covers(pd.day)), None)
        if covering is None:
            pd.reasons.append(_("No authorization covers this day"))
            continue
        pd.authorization = covering
        if pd.reasons:
            continue
        units = 1 if covering.unit == AuthorizationUnit.DAYS else sum(x.units for x in pd.lines)
        if used[covering.pk] + units > covering.authorized:
            pd.reasons.append(
                _("Authorization %(number)s used up (%(used)s of %(total)s)")
                % {
                    "number": covering.number,
                    "used": used[covering.pk],
                    "total": covering.authorized,
                }
            )
            continue
        used[covering.pk] += units

    uses: dict[int, list[AuthorizationUse]] = defaultdict(list)
    for a in all_auths:
        if a.end_date >= start and a.start_date <= end:
            uses[a.patient_id].append(AuthorizationUse(a, used[a.pk]))
    return BillingResult(
        program=program,
        settings=settings,
        start=start,
        end=end,
        days=[d for d in days if start <= d.day <= end],
        authorizations=dict(uses),
    )


# --- access -------------------------------------------------------------------------------


def program_get_for_billing(*, viewer: User, program_id: int | None) -> Program | None:
    """The program ``viewer`` may bill for (a clinician of it, or an admin); the first of
    theirs when no id is given. None when refused."""
    if not is_staff(viewer):
        return None
    programs = programs_for_staff(user=viewer).order_by("name")
    return programs.first() if program_id is None else programs.filter(pk=program_id).first()


def patient_get_for_billing(*, viewer: User, patient_id: int) -> tuple[User, Program] | None:
    """A patient and their program when ``viewer`` is staff who may see them."""
    if not is_staff(viewer):
        return None
    patient = patient_get_for_viewer(viewer=viewer, patient_id=patient_id)
    if patient is None:
        return None
    program = getattr(getattr(patient, "patient_profile", None), "program", None)
    if program is None or not programs_for_staff(user=viewer).filter(pk=program.pk).exists():
        return None
    return patient, program


def patients_claim_info(patient_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Date of birth and insurance from each patient's latest application (one query)."""
    out: dict[int, dict[str, str]] = {}
    rows = (
        Application.objects.filter(patient_id__in=list(patient_ids))
        .select_related("insurance")
        .order_by("patient_id", "-created_at")
    )
    for app in rows:
        if app.patient_id in out:
            continue
        info = {"dob": app.date_of_birth.isoformat() if app.date_of_birth else ""}
        try:
            insurance = app.insurance
        except Insurance.DoesNotExist:
            insurance = None
        if insurance is not None and not insurance.self_pay:
            info |= {
                "payer": insurance.payer,
                "member_id": insurance.member_id,
                "group_number": insurance.group_number,
            }
        elif insurance is not None:
            info["self_pay"] = "yes"
        out[app.patient_id] = info
    return out
