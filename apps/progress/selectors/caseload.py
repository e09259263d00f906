"""The clinician's caseload: one row per patient, paged and sorted in SQL where it can be."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

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

from apps.accounts.models import User
from apps.accounts.selectors import patients_in_treatment, patients_visible_to
from apps.enrollment.models import Application, Status
from apps.homework.models import OPEN_STATUSES, Assignment
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.measures.scoring import MEANINGFUL_POINTS, Change, change_summary
from apps.programs.models import Program
from apps.progress.models import DailyCheckIn
from apps.progress.selectors.access import is_clinician
from apps.progress.selectors.episodes import current_scores_from, in_score_window, local_today
from apps.scheduling.models import Appointment, GroupMembership, SessionStatus
from apps.scheduling.selectors import membership_covers, week_start_for, weekly_hours


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
        """PHQ-9 or GAD-7 up meaningfully since the episode's first score ("Worse")."""
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
        return str(Status(self.status).label) if self.status in Status.values else self.status

    @property
    def hours_value(self) -> float:
        return float(self.hours.hours) if self.hours is not None else 0.0


CASELOAD_SORTS = ("flags", "name", "phq9", "phq9_change", "gad7", "checkin", "hours", "homework")


_NO_VALUE = 10**6


def _scores(code: str, *, this_episode: bool = True) -> QuerySet[MeasureResponse]:
    scores = MeasureResponse.objects.filter(
        patient=OuterRef("pk"), instrument=code, total__isnull=False
    )
    # The current episode's scores, as the chart counts them: its first is the baseline.
    return scores.filter(in_score_window(OuterRef("scores_from"))) if this_episode else scores


def _latest(code: str, *, first: bool = False, field_name: str = "total") -> Subquery:
    # The latest score needs no window: the current episode has no end, so when it has two
    # scores (a change is shown) the latest is one of them.
    order = ("taken_at", "id") if first else ("-taken_at", "-id")
    scores = _scores(code, this_episode=first)
    return Subquery(scores.order_by(*order).values(field_name)[:1])


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
        .annotate(scores_from=current_scores_from(OuterRef("pk")))
        .annotate(
            episode_status=Subquery(
                Application.objects.filter(patient=OuterRef("pk"))
                .order_by("-created_at", "-id")
                .values("status")[:1]
            ),
            phq9_first=_latest("phq9", first=True),
            phq9_last=_latest("phq9"),
            phq9_last_at=_latest("phq9", field_name="taken_at"),
            phq9_count=_count(_scores("phq9")),
            gad7_count=_count(_scores("gad7")),
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
        # MEANINGFUL_POINTS or more since the episode's first score, on either scale.
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
                phq9=change_summary("phq9", a.phq9_first, a.phq9_last)
                if a.phq9_count > 1
                else None,
                gad7=change_summary("gad7", a.gad7_first, a.gad7_last)
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
