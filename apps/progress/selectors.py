"""Reads for measurement-based care, and the one place this app's access rule lives.

- A patient sees only their own check-ins, measures and progress.
- A clinician sees the patients of programs they work in (``patients_visible_to``).
- Program admins see program-level outcomes (aggregates), not individual charts: the issue
  says only the patient and the clinicians of their program see any of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from apps.accounts.http import is_staff
from apps.accounts.models import Role
from apps.accounts.selectors import patients_in_treatment, patients_visible_to
from apps.measures.models import MeasureContext, MeasureResponse, SafetyFlag
from apps.measures.registry import Instrument, instrument_get
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff
from apps.progress.models import DailyCheckIn, MeasureSchedule
from apps.progress.scoring import MEANINGFUL_POINTS, Change, change_between

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.enrollment.models import Application

CHART_INSTRUMENTS = ("phq9", "gad7")
SUD_INSTRUMENTS = ("auditc", "dast10")
BACKFILL_DAYS = 7


# --- access --------------------------------------------------------------------------------
def is_clinician(user: User) -> bool:
    return bool(user.is_authenticated and user.role == Role.CLINICIAN)


def progress_patient_get_for_viewer(*, viewer: User, patient_id: int) -> User | None:
    """The patient whose progress ``viewer`` may read: themselves, or (clinicians) a patient
    of a program they work in. Admins and everyone else get None (callers answer 404)."""
    if not viewer.is_authenticated:
        return None
    if viewer.role == Role.PATIENT:
        return viewer if viewer.pk == patient_id else None
    if viewer.role != Role.CLINICIAN:
        return None
    return (
        patients_visible_to(user=viewer)
        .select_related("patient_profile__program")
        .filter(pk=patient_id)
        .first()
    )


def outcome_programs_for(*, user: User) -> QuerySet[Program]:
    # Outcomes are aggregates: every staff role sees those of its programs.
    if not is_staff(user):
        return Program.objects.none()
    return programs_for_staff(user=user).order_by("name")


# --- time ----------------------------------------------------------------------------------
def patient_zone(patient: User) -> ZoneInfo:
    tz = patient.time_zone
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(str(tz))


def local_today(patient: User, now: dt.datetime | None = None) -> dt.date:
    """Today in the patient's own time zone: it decides which day a check-in belongs to."""
    return (now or timezone.now()).astimezone(patient_zone(patient)).date()


def patient_program(patient: User) -> Program | None:
    profile = getattr(patient, "patient_profile", None)
    return profile.program if profile is not None else None


# --- admission (enrollment) ----------------------------------------------------------------
@dataclass(frozen=True)
class Episode:
    """The patient's episode of care as far as progress needs it. ``admitted_on`` comes from
    enrollment's admitted application (start date, else decision date); without one it falls
    back to the first intake measure, so patients who were added before enrollment existed
    (and the demo) still get a schedule."""

    admitted_on: dt.date | None
    discharged_on: dt.date | None = None
    application_id: int | None = None
    source: str = ""


def episode_for(*, patient: User) -> Episode:
    from apps.enrollment.models import Application, Status

    app: Application | None = (
        Application.objects.filter(patient=patient, status__in=[Status.ADMITTED, Status.DISCHARGED])
        .select_related("discharge")
        .order_by("-decided_at", "-id")
        .first()
    )
    tz = patient_zone(patient)
    if app is not None:
        admitted = app.start_date or (
            app.decided_at.astimezone(tz).date() if app.decided_at else None
        )
        discharged = None
        if app.status == Status.DISCHARGED:
            discharge = getattr(app, "discharge", None)
            when = discharge.discharged_at if discharge else app.status_changed_at
            discharged = when.astimezone(tz).date() if when else None
        if admitted is not None:
            return Episode(admitted, discharged, app.pk, "enrollment")
    first = (
        MeasureResponse.objects.filter(patient=patient, context=MeasureContext.INTAKE)
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
        .first()
    )
    if first is not None:
        return Episode(first.astimezone(tz).date(), None, None, "first_intake_measure")
    return Episode(None)


# --- repeated measures ---------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleRule:
    interval_days: int
    instruments: tuple[str, ...]
    at_discharge: bool
    grace_days: int


def schedule_for(program: Program | None) -> ScheduleRule:
    row = MeasureSchedule.objects.filter(program=program).first() if program else None
    if row is not None:
        return ScheduleRule(
            row.interval_days, tuple(row.instruments), row.at_discharge, row.grace_days
        )
    codes = CHART_INSTRUMENTS + (SUD_INSTRUMENTS if program and program.is_substance_use else ())
    return ScheduleRule(14, codes, True, 3)


@dataclass(frozen=True)
class DueMeasure:
    instrument: Instrument
    due_on: dt.date
    kind: str  # "repeat" or "discharge"
    ref: str

    @property
    def context(self) -> str:
        return MeasureContext.DISCHARGE if self.kind == "discharge" else MeasureContext.REPEAT

    @property
    def code(self) -> str:
        return self.instrument.code


# A discharge measure is still offered this long after discharge, then it lapses.
DISCHARGE_WINDOW_DAYS = 30


def measures_due(*, patient: User, now: dt.datetime | None = None) -> list[DueMeasure]:
    """Instruments the patient should complete now (at most one due date per instrument).

    Every ``interval_days`` from admission a round falls due; an instrument done from
    ``grace_days`` before the due date on counts. After discharge the round is the discharge
    one, with the same ``ref`` enrollment uses when it records discharge measures in session,
    so the two never double up."""
    program = patient_program(patient)
    if program is None:
        return []
    rule = schedule_for(program)
    episode = episode_for(patient=patient)
    today = local_today(patient, now)
    if episode.admitted_on is None:
        return []
    tz = patient_zone(patient)
    if episode.discharged_on is not None:
        if not rule.at_discharge or (today - episode.discharged_on).days > DISCHARGE_WINDOW_DAYS:
            return []
        due_on, kind = episode.discharged_on, "discharge"
        ref = f"discharge:{episode.application_id}"
    else:
        rounds = (today - episode.admitted_on).days // rule.interval_days
        if rounds < 1:
            return []
        due_on = episode.admitted_on + dt.timedelta(days=rounds * rule.interval_days)
        kind, ref = "repeat", f"progress:{due_on.isoformat()}"
    since = dt.datetime.combine(due_on - dt.timedelta(days=rule.grace_days), dt.time.min, tzinfo=tz)
    done = set(
        MeasureResponse.objects.filter(
            patient=patient, instrument__in=rule.instruments, taken_at__gte=since
        ).values_list("instrument", flat=True)
    )
    out = []
    for code in rule.instruments:
        definition = instrument_get(code)
        if definition is None or code in done:
            continue
        if definition.substance_use_only and not program.is_substance_use:
            continue
        out.append(DueMeasure(definition, due_on, kind, ref))
    return out


def measure_due_get(*, patient: User, code: str) -> DueMeasure | None:
    return next((d for d in measures_due(patient=patient) if d.code == code), None)


# --- check-ins -----------------------------------------------------------------------------
def checkin_for_day(*, patient: User, day: dt.date) -> DailyCheckIn | None:
    return DailyCheckIn.objects.filter(patient=patient, day=day).first()


def checkins_between(*, patient: User, start: dt.date, end: dt.date) -> list[DailyCheckIn]:
    return list(
        DailyCheckIn.objects.filter(patient=patient, day__gte=start, day__lte=end).order_by("day")
    )


@dataclass(frozen=True)
class SkillChoice:
    slug: str
    title: str


def skills_for(*, patient: User) -> list[SkillChoice]:
    """Skills the patient can say they used: modules of homework they have started or done."""
    from apps.homework.models import Assignment

    rows = (
        Assignment.objects.filter(patient=patient)
        .exclude(status="assigned")
        .values_list("module__slug", "module__title")
        .order_by("module__title")
        .distinct()
    )
    return [SkillChoice(slug, title) for slug, title in rows]


# --- measures over time --------------------------------------------------------------------
@dataclass(frozen=True)
class ScorePoint:
    taken_at: dt.datetime
    total: int
    band: str
    band_label: str
    context: str


def measure_series(*, patient: User, code: str) -> list[ScorePoint]:
    return [
        ScorePoint(r.taken_at, r.total, r.band, r.band_label, r.context)
        for r in MeasureResponse.objects.filter(
            patient=patient, instrument=code, total__isnull=False
        ).order_by("taken_at", "id")
        if r.total is not None
    ]


def measure_series_many(*, patient: User, codes: tuple[str, ...]) -> dict[str, list[ScorePoint]]:
    """Each instrument's scores, oldest first, in one query."""
    out: dict[str, list[ScorePoint]] = {code: [] for code in codes}
    for r in MeasureResponse.objects.filter(
        patient=patient, instrument__in=codes, total__isnull=False
    ).order_by("taken_at", "id"):
        if r.total is not None:
            out[r.instrument].append(
                ScorePoint(r.taken_at, r.total, r.band, r.band_label, r.context)
            )
    return out


def responses_with_items(*, patient: User, limit: int = 50) -> list[dict[str, Any]]:
    """Recent responses with each item's text and the answer given, for clinicians."""
    rows = []
    for r in MeasureResponse.objects.filter(patient=patient).select_related("entered_by")[:limit]:
        definition = r.definition
        items = []
        if definition is not None:
            for number, item in enumerate(definition.items, 1):
                if item.key not in r.answers:
                    continue
                value = r.answers[item.key]
                label = next((c.label for c in item.choices if c.value == value), value)
                items.append({"number": number, "text": item.text, "answer": label, "value": value})
        rows.append({"response": r, "items": items})
    return rows


# --- hours and homework --------------------------------------------------------------------
def weeks_of_hours(*, patient: User, program: Program, weeks: int = 8) -> list[Any]:
    """Weekly hours (scheduling's own computation) for the last ``weeks`` program weeks, oldest
    first; four queries a week, so keep ``weeks`` small."""
    from apps.scheduling.selectors import week_start_for, weekly_hours

    this_week = week_start_for(timezone.now().astimezone(program.time_zone).date())
    out = []
    for back in range(weeks - 1, -1, -1):
        start = this_week - dt.timedelta(days=7 * back)
        row = weekly_hours(patients=[patient], program=program, week_start=start)[0]
        out.append((start, row))
    return out


def homework_summary(*, patient: User) -> dict[str, Any]:
    from apps.homework.models import OPEN_STATUSES, Assignment

    today = local_today(patient)
    rows = list(
        Assignment.objects.filter(patient=patient)
        .select_related("module")
        .only("status", "due_date", "submitted_at", "module__title", "created_at")
        .order_by("-created_at")
    )
    done = [a for a in rows if a.status in ("submitted", "reviewed")]
    overdue = [a for a in rows if a.status in OPEN_STATUSES and a.due_date and a.due_date < today]
    return {"assignments": rows, "done": done, "overdue": overdue, "total": len(rows)}


# --- caseload ------------------------------------------------------------------------------
@dataclass
class CaseloadRow:
    patient: User
    program: Program | None
    status: str
    phq9: Change | None
    gad7: Change | None
    phq9_latest_at: dt.datetime | None
    open_flags: int
    top_severity: int | None
    last_checkin: dt.date | None
    days_since_checkin: int | None
    hours: Any = None
    homework_overdue: int = 0
    phq9_latest: int | None = None
    gad7_latest: int | None = None
    next_session: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def below_floor(self) -> bool:
        """Behind this week's hour floor (scheduling's ``WeeklyHours.floor_status``): below
        it so far while the sessions still scheduled reach it is "on track", not this."""
        return bool(self.hours is not None and self.hours.behind)

    @property
    def worsening(self) -> bool:
        """PHQ-9 or GAD-7 up by a meaningful change since the first score ("Worse")."""
        return bool((self.phq9 and self.phq9.worsened) or (self.gad7 and self.gad7.worsened))

    @property
    def checkin_text(self) -> str:
        if self.days_since_checkin is None:
            return gettext("Never")
        if self.days_since_checkin == 0:
            return gettext("Today")
        return ngettext("%(n)s day ago", "%(n)s days ago", self.days_since_checkin) % {
            "n": self.days_since_checkin
        }

    @property
    def status_label(self) -> str:
        from apps.enrollment.models import Status

        return str(Status(self.status).label) if self.status in Status.values else self.status

    @property
    def hours_value(self) -> float:
        return float(self.hours.hours) if self.hours is not None else 0.0


CASELOAD_SORTS = ("flags", "name", "phq9", "phq9_change", "gad7", "checkin", "hours", "homework")
_NO_VALUE = 10**6


def _latest(code: str, *, first: bool = False, field_name: str = "total") -> Subquery:
    order = ("taken_at", "id") if first else ("-taken_at", "-id")
    return Subquery(
        MeasureResponse.objects.filter(patient=OuterRef("pk"), instrument=code, total__isnull=False)
        .order_by(*order)
        .values(field_name)[:1]
    )


def _count(qs: QuerySet[Any]) -> Coalesce:
    return Coalesce(
        Subquery(
            qs.order_by().values("patient").annotate(c=Count("pk")).values("c")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def caseload_queryset(*, user: User, now: dt.datetime) -> QuerySet[User]:
    """The clinician's patients with everything the caseload needs as subqueries, so the page
    costs the same few queries for 3 patients or 500."""
    from apps.enrollment.models import Application
    from apps.homework.models import OPEN_STATUSES, Assignment
    from apps.scheduling.models import Appointment, GroupMembership, SessionStatus
    from apps.scheduling.selectors import membership_covers

    if not is_clinician(user):
        return patients_visible_to(user=user).none()
    today = timezone.localdate(now)
    # Driven from the patient's memberships (patient index, then each group's sessions by
    # the group index): starting from the sessions instead probed every membership of every
    # future session for each patient, 740 ms at 500 patients (bench/RESULTS.md, finding 4).
    # One filter() call, so the session join is shared by every condition.
    occurrence = F("group__sessions__occurrence_date")
    next_session = Subquery(
        GroupMembership.objects.filter(
            membership_covers(patient_ref=OuterRef("pk"), date_ref=occurrence),
            group__sessions__starts_at__gte=now,
            group__sessions__status=SessionStatus.SCHEDULED,
        )
        .order_by("group__sessions__starts_at")
        .values("group__sessions__starts_at")[:1]
    )
    next_appointment = Subquery(
        Appointment.objects.filter(
            patient=OuterRef("pk"), starts_at__gte=now, status__in=["booked", "requested"]
        )
        .order_by("starts_at")
        .values("starts_at")[:1]
    )
    return (
        patients_visible_to(user=user)
        .select_related("patient_profile__program")
        .annotate(
            episode_status=Subquery(
                Application.objects.filter(patient=OuterRef("pk"))
                .order_by("-created_at", "-id")
                .values("status")[:1]
            ),
            phq9_first=_latest("phq9", first=True),
            phq9_last=_latest("phq9"),
            phq9_last_at=_latest("phq9", field_name="taken_at"),
            phq9_count=_count(
                MeasureResponse.objects.filter(
                    patient=OuterRef("pk"), instrument="phq9", total__isnull=False
                )
            ),
            gad7_count=_count(
                MeasureResponse.objects.filter(
                    patient=OuterRef("pk"), instrument="gad7", total__isnull=False
                )
            ),
            gad7_first=_latest("gad7", first=True),
            gad7_last=_latest("gad7"),
            open_flags=_count(
                SafetyFlag.objects.filter(patient=OuterRef("pk"), acknowledged_at__isnull=True)
            ),
            urgent_flags=_count(
                SafetyFlag.objects.filter(
                    patient=OuterRef("pk"),
                    acknowledged_at__isnull=True,
                    severity__in=["urgent", "high"],
                )
            ),
            last_checkin=Subquery(
                DailyCheckIn.objects.filter(patient=OuterRef("pk"))
                .order_by("-day")
                .values("day")[:1]
            ),
            homework_overdue=_count(
                Assignment.objects.filter(
                    patient=OuterRef("pk"), status__in=OPEN_STATUSES, due_date__lt=today
                )
            ),
            next_session_at=next_session,
            next_appointment_at=next_appointment,
        )
    )


def caseload_rows(
    *,
    user: User,
    program_id: int | None = None,
    flagged_only: bool = False,
    below_floor_only: bool = False,
    quiet_days: int | None = None,
    include_closed: bool = False,
    search: str = "",
    sort: str = "flags",
    now: dt.datetime | None = None,
) -> list[CaseloadRow]:
    """One row per patient of the clinician's programs. A fixed number of queries: one for the
    patients (with subqueries) and scheduling's ``weekly_hours`` once per program."""
    if not is_clinician(user):
        return []
    now = now or timezone.now()
    qs = _caseload_filtered(
        user=user,
        now=now,
        program_id=program_id,
        flagged_only=flagged_only,
        include_closed=include_closed,
        search=search,
    )
    rows = _caseload_rows_for(list(qs), now=now)
    if below_floor_only:
        rows = [r for r in rows if r.below_floor]
    if quiet_days is not None:
        rows = [
            r for r in rows if r.days_since_checkin is None or r.days_since_checkin >= quiet_days
        ]
    return sort_caseload(rows, sort)


CASELOAD_PAGE_SIZE = 50


def caseload_page(
    *,
    user: User,
    page: Any = 1,
    per_page: int = CASELOAD_PAGE_SIZE,
    program_id: int | None = None,
    flagged_only: bool = False,
    below_floor_only: bool = False,
    quiet_days: int | None = None,
    include_closed: bool = False,
    search: str = "",
    sort: str = "flags",
    now: dt.datetime | None = None,
) -> Page[CaseloadRow]:
    """One page of ``caseload_rows`` (a bad or missing page number gives the first page, one
    past the end the last). Sorts the database can do are done there, so only the page's
    patients are loaded and computed; sorting or filtering by this week's hours or by days
    since check-in (in each patient's zone) computes every row first, then pages."""
    now = now or timezone.now()
    if not is_clinician(user):
        return Paginator([], per_page).get_page(1)
    order = _sql_order(sort)
    if order is None or below_floor_only or quiet_days is not None:
        rows = caseload_rows(
            user=user,
            program_id=program_id,
            flagged_only=flagged_only,
            below_floor_only=below_floor_only,
            quiet_days=quiet_days,
            include_closed=include_closed,
            search=search,
            sort=sort,
            now=now,
        )
        return Paginator(rows, per_page).get_page(page)
    qs = _caseload_filtered(
        user=user,
        now=now,
        program_id=program_id,
        flagged_only=flagged_only,
        include_closed=include_closed,
        search=search,
    ).order_by(*order, "pk")
    result: Any = Paginator(qs, per_page).get_page(page)
    result.object_list = _caseload_rows_for(list(result.object_list), now=now)
    return result  # type: ignore[no-any-return]


def _sql_order(sort: str) -> list[Any] | None:
    """``sort_caseload``'s keys as SQL ordering, for the sorts that need no Python value."""
    name = Lower("full_name")
    if sort == "flags" or sort not in CASELOAD_SORTS:
        # Same rule as ``CaseloadRow.worsening`` (scoring.Change.worsened): a rise of
        # MEANINGFUL_POINTS or more since the first score, on either scale.
        worse = Q(phq9_count__gt=1, phq9_last__gte=F("phq9_first") + MEANINGFUL_POINTS) | Q(
            gad7_count__gt=1, gad7_last__gte=F("gad7_first") + MEANINGFUL_POINTS
        )
        return [
            Case(When(open_flags__gt=0, then=Value(0)), default=Value(1)),
            Case(
                When(urgent_flags__gt=0, then=Value(0)),
                When(open_flags__gt=0, then=Value(2)),
                default=Value(9),
            ),
            Case(When(worse, then=Value(0)), default=Value(1)),
            name,
        ]
    if sort == "name":
        return [name]
    if sort in ("phq9", "gad7"):
        return [F(f"{sort}_last").desc(nulls_last=True), name]
    if sort == "phq9_change":
        change = Case(
            When(phq9_count__gt=1, then=F("phq9_last") - F("phq9_first")),
            default=None,
            output_field=IntegerField(),
        )
        return [change.desc(nulls_last=True), name]
    if sort == "homework":
        return [F("homework_overdue").desc(), name]
    return None  # "checkin", "hours": computed per patient in Python


def _caseload_filtered(
    *,
    user: User,
    now: dt.datetime,
    program_id: int | None,
    flagged_only: bool,
    include_closed: bool,
    search: str,
) -> QuerySet[User]:
    qs = caseload_queryset(user=user, now=now)
    if program_id:
        qs = qs.filter(patient_profile__program_id=program_id)
    if not include_closed:
        # The caseload is patients in treatment (enrollment's rule). Applicants are in
        # enrollment's queue; discharged on request.
        qs = patients_in_treatment(qs)
    search = (search or "").strip()[:100]
    if search:
        qs = qs.filter(Q(full_name__icontains=search) | Q(preferred_name__icontains=search))
    if flagged_only:
        qs = qs.filter(Q(open_flags__gt=0))
    return qs


def _caseload_rows_for(patients: list[User], *, now: dt.datetime) -> list[CaseloadRow]:
    """Rows for annotated patients (``caseload_queryset``): ``weekly_hours`` once per program."""
    from apps.scheduling.selectors import week_start_for, weekly_hours

    by_program: dict[int, list[User]] = {}
    programs: dict[int, Program] = {}
    for p in patients:
        program = p.patient_profile.program  # type: ignore[attr-defined]
        if program is not None:
            by_program.setdefault(program.pk, []).append(p)
            programs[program.pk] = program
    hours: dict[int, Any] = {}
    for pid, members in by_program.items():
        program = programs[pid]
        week = week_start_for(now.astimezone(program.time_zone).date())
        for row in weekly_hours(patients=members, program=program, week_start=week, now=now):
            hours[row.patient.pk] = row
    rows = []
    for p in patients:
        a: Any = p
        last = a.last_checkin
        today = local_today(p, now)
        nexts = [t for t in (a.next_session_at, a.next_appointment_at) if t is not None]
        rows.append(
            CaseloadRow(
                patient=p,
                program=a.patient_profile.program,
                status=a.episode_status or "",
                # A change needs two scores; one score is shown on its own.
                phq9=change_between("phq9", a.phq9_first, a.phq9_last)
                if a.phq9_count > 1
                else None,
                gad7=change_between("gad7", a.gad7_first, a.gad7_last)
                if a.gad7_count > 1
                else None,
                phq9_latest=a.phq9_last,
                gad7_latest=a.gad7_last,
                phq9_latest_at=a.phq9_last_at,
                open_flags=a.open_flags,
                top_severity=0 if a.urgent_flags else (2 if a.open_flags else None),
                last_checkin=last,
                days_since_checkin=(today - last).days if last else None,
                hours=hours.get(p.pk),
                homework_overdue=a.homework_overdue,
                next_session=min(nexts) if nexts else None,
            )
        )
    return rows


def sort_caseload(rows: list[CaseloadRow], sort: str) -> list[CaseloadRow]:
    def name(r: CaseloadRow) -> str:
        return (r.patient.full_name or "").lower()

    def flags_key(r: CaseloadRow) -> tuple[Any, ...]:
        # Who needs attention first: open flags (most severe first), then anyone whose
        # scores got meaningfully worse, then the rest by name.
        return (
            0 if r.open_flags else 1,
            r.top_severity if r.top_severity is not None else 9,
            0 if r.worsening else 1,
            name(r),
        )

    keys = {
        "flags": flags_key,
        "name": name,
        # Highest (worst) latest score first; no score last.
        "phq9": lambda r: (-r.phq9_latest if r.phq9_latest is not None else _NO_VALUE, name(r)),
        "gad7": lambda r: (-r.gad7_latest if r.gad7_latest is not None else _NO_VALUE, name(r)),
        # Worsening first: largest increase at the top.
        "phq9_change": lambda r: (-(r.phq9.delta) if r.phq9 else _NO_VALUE, name(r)),
        # Longest without a check-in first; never checked in at the very top.
        "checkin": lambda r: (
            -(r.days_since_checkin if r.days_since_checkin is not None else _NO_VALUE),
            name(r),
        ),
        # Fewest hours this week first.
        "hours": lambda r: (r.hours_value if r.hours else _NO_VALUE, name(r)),
        "homework": lambda r: (-r.homework_overdue, name(r)),
    }
    return sorted(rows, key=keys.get(sort, flags_key))


# --- program outcomes ----------------------------------------------------------------------
@dataclass
class ProgramOutcome:
    program: Program
    admissions: int
    discharges: int
    completions: int
    phq9_change: float | None
    phq9_pairs: int
    gad7_change: float | None
    gad7_pairs: int
    attendance_rate: float | None
    sessions_recorded: int
    # Measurement-based care (Joint Commission CTS.03.01.09): share of discharged patients
    # with a response (a drop of half or more) and in remission (under 5) at discharge.
    phq9_response_rate: float | None = None
    phq9_remission_rate: float | None = None
    gad7_response_rate: float | None = None
    gad7_remission_rate: float | None = None
    median_stay_days: float | None = None
    period: str = ""
    # What apps above progress add (documentation timeliness...): label → value.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def completion_rate(self) -> float | None:
        return round(100 * self.completions / self.discharges, 1) if self.discharges else None


def program_outcomes(
    *, user: User, program_id: int | None = None, since: dt.date | None = None
) -> list[ProgramOutcome]:
    """Admissions, completions, PHQ-9/GAD-7 change, response and remission from admission to
    discharge, median length of stay and the attendance rate, per program the viewer works
    in (admins: every program). Aggregates only.

    Change pairs: each discharged patient's first score (intake) and the score taken at or
    after discharge (context ``discharge``), else their last score before discharge."""
    from apps.enrollment.models import Application, Status

    programs = list(outcome_programs_for(user=user))
    if program_id:
        programs = [p for p in programs if p.pk == program_id]
    apps = Application.objects.filter(
        program__in=programs, status__in=[Status.ADMITTED, Status.DISCHARGED]
    )
    if since is not None:
        apps = apps.filter(
            Q(start_date__gte=since) | Q(start_date__isnull=True, decided_at__date__gte=since)
        )
    return _outcomes(programs, apps, since=since)


def quarter_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar quarter holding ``day``: [first day, first day of the next)."""
    first = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    nxt = dt.date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
    return first, nxt


def quarterly_outcomes(
    *, user: User, quarters: int = 4, today: dt.date | None = None
) -> list[ProgramOutcome]:
    """The same outcomes per program and calendar quarter, by discharge date (the last
    ``quarters`` quarters, newest first), for the aggregate the standard asks for."""
    from apps.enrollment.models import Application, Status

    programs = list(outcome_programs_for(user=user))
    start, end = quarter_of(today or timezone.localdate())
    out: list[ProgramOutcome] = []
    for _ in range(quarters):
        apps = Application.objects.filter(
            program__in=programs,
            status=Status.DISCHARGED,
            discharge__discharged_at__date__gte=start,
            discharge__discharged_at__date__lt=end,
        )
        rows = _outcomes(programs, apps, window=(start, end))
        label = f"{start.year} Q{(start.month - 1) // 3 + 1}"
        for row in rows:
            row.period = label
        out += rows
        end = start
        start = quarter_of(start - dt.timedelta(days=1))[0]
    return out


def _outcomes(
    programs: list[Program],
    apps: QuerySet[Application],
    *,
    since: dt.date | None = None,
    window: tuple[dt.date, dt.date] | None = None,
) -> list[ProgramOutcome]:
    from apps.enrollment.models import DischargeReason, Status
    from apps.progress.extensions import outcome_metrics
    from apps.scheduling.models import ATTENDED_STATUSES, Attendance

    ids = [p.pk for p in programs]
    app_rows = list(
        apps.values_list(
            "program_id",
            "patient_id",
            "status",
            "discharge__reason",
            "discharge__discharged_at",
            "start_date",
        )
    )
    discharged = {(r[0], r[1]): r[4] for r in app_rows if r[2] == Status.DISCHARGED}
    scores: dict[tuple[int, str], list[tuple[dt.datetime, int, str]]] = {}
    for patient_id, code, taken_at, total, context in (
        MeasureResponse.objects.filter(
            patient_id__in=[pat for _p, pat in discharged],
            instrument__in=CHART_INSTRUMENTS,
            total__isnull=False,
        )
        .order_by("taken_at", "id")
        .values_list("patient_id", "instrument", "taken_at", "total", "context")
    ):
        scores.setdefault((patient_id, code), []).append((taken_at, int(total or 0), context))
    attended = Attendance.objects.filter(session__group__program_id__in=ids)
    if window is not None:
        attended = attended.filter(
            session__starts_at__date__gte=window[0], session__starts_at__date__lt=window[1]
        )
    attendance = {
        row["session__group__program_id"]: row
        for row in attended.values("session__group__program_id").annotate(
            total=Count("pk"),
            attended=Count("pk", filter=Q(status__in=ATTENDED_STATUSES)),
        )
    }
    extra = outcome_metrics(
        ids, start=window[0] if window else since, end=window[1] if window else None
    )
    out = []
    for program in programs:
        rows = [r for r in app_rows if r[0] == program.pk]
        ends: dict[str, list[Change]] = {code: [] for code in CHART_INSTRUMENTS}
        stays: list[int] = []
        for _pid, pat, st, _reason, at, start_date in rows:
            if st != Status.DISCHARGED:
                continue
            if at is not None and start_date is not None:
                stays.append((at.date() - start_date).days)
            for code in CHART_INSTRUMENTS:
                change = _discharge_change(code, scores.get((pat, code), []), at)
                if change is not None:
                    ends[code].append(change)
        att = attendance.get(program.pk)
        out.append(
            ProgramOutcome(
                program=program,
                admissions=len(rows),
                discharges=sum(1 for r in rows if r[2] == Status.DISCHARGED),
                completions=sum(1 for r in rows if r[3] == DischargeReason.COMPLETED),
                phq9_change=_mean([c.delta for c in ends["phq9"]]),
                phq9_pairs=len(ends["phq9"]),
                gad7_change=_mean([c.delta for c in ends["gad7"]]),
                gad7_pairs=len(ends["gad7"]),
                attendance_rate=(
                    round(100 * att["attended"] / att["total"], 1) if att and att["total"] else None
                ),
                sessions_recorded=att["total"] if att else 0,
                phq9_response_rate=_share([c.response for c in ends["phq9"]]),
                phq9_remission_rate=_share([c.remission for c in ends["phq9"]]),
                gad7_response_rate=_share([c.response for c in ends["gad7"]]),
                gad7_remission_rate=_share([c.remission for c in ends["gad7"]]),
                median_stay_days=_median(stays),
                extra={label: values.get(program.pk) for label, values in extra},
            )
        )
    return out


def _discharge_change(
    code: str, series: list[tuple[dt.datetime, int, str]], discharged_at: dt.datetime | None
) -> Change | None:
    if len(series) < 2:
        return None
    at_discharge = [s for s in series if s[2] == MeasureContext.DISCHARGE]
    before = [s for s in series if discharged_at is None or s[0] <= discharged_at]
    end = at_discharge[-1] if at_discharge else (before[-1] if before else None)
    if end is None or end is series[0]:
        return None
    return change_between(code, series[0][1], end[1])


def _share(flags: list[bool]) -> float | None:
    return round(100 * sum(flags) / len(flags), 1) if flags else None


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def checkin_averages(checkins: list[DailyCheckIn]) -> dict[str, float | None]:
    def avg(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    return {
        "mood": avg([c.mood for c in checkins]),
        "anxiety": avg([c.anxiety for c in checkins]),
        "sleep_hours": avg([float(c.sleep_hours or Decimal(0)) for c in checkins]),
        "craving": avg([c.craving for c in checkins if c.craving is not None]),
        "count": float(len(checkins)),
    }


def checked_in_on(*, patient_id: int, day: dt.date) -> bool:
    """Whether the patient has checked in on ``day`` (their local date). For the
    notifications app's check-in nudge guard; reads only."""
    return DailyCheckIn.objects.filter(patient_id=patient_id, day=day).exists()
