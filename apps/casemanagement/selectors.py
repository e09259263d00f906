"""Reads for case management, and the one place its access rule lives.

Staff: a clinician may read and write a patient's case management when they may see the
patient anyway (``patients_visible_to``: they work in the patient's program) or when they
are the patient's current case manager (``CaseManagerAssignment``), whichever program they
work in. Anyone else — another program's clinician, a case manager not assigned to this
patient, a patient, a program admin — is refused (callers answer 404). Program admins edit
the resource directory in Django admin and do not read case records here.

Patients read their own referrals and tasks through the ``patient_*`` selectors, which
leave staff-only notes out.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.accounts.selectors import patients_visible_to
from apps.casemanagement.models import (
    CONTINUING_CARE_KINDS,
    NEED_OPEN,
    REFERRAL_OPEN,
    CaseManagerAssignment,
    Need,
    Referral,
    ReferralEvent,
    Resource,
    Task,
)
from apps.programs.models import Program
from apps.programs.selectors import programs_for_staff


def is_case_staff(user: User) -> bool:
    return bool(user.is_authenticated and user.role == Role.CLINICIAN)


def _assigned_patient_ids(user: User) -> QuerySet[CaseManagerAssignment, Any]:
    return CaseManagerAssignment.objects.filter(case_manager=user, ended_at=None).values(
        "patient_id"
    )


def patients_for_case_management(*, user: User) -> QuerySet[User]:
    """Patients whose case management ``user`` may read and write (see the module text)."""
    if not is_case_staff(user):
        return User.objects.none()
    return User.objects.filter(role=Role.PATIENT, is_active=True).filter(
        Q(pk__in=patients_visible_to(user=user).values("pk"))
        | Q(pk__in=_assigned_patient_ids(user))
    )


def patient_get_for_case_management(*, viewer: User, patient_id: int) -> User | None:
    return (
        patients_for_case_management(user=viewer)
        .select_related("patient_profile__program")
        .filter(pk=patient_id)
        .first()
    )


def referral_get_for_staff(*, viewer: User, referral_id: int) -> Referral | None:
    return (
        Referral.objects.select_related("patient", "resource", "created_by")
        .filter(pk=referral_id, patient__in=patients_for_case_management(user=viewer))
        .first()
    )


def need_get_for_staff(*, viewer: User, need_id: int) -> Need | None:
    return (
        Need.objects.select_related("patient")
        .filter(pk=need_id, patient__in=patients_for_case_management(user=viewer))
        .first()
    )


def task_get_for_staff(*, viewer: User, task_id: int) -> Task | None:
    return (
        Task.objects.select_related("need__patient", "assignee")
        .filter(pk=task_id, need__patient__in=patients_for_case_management(user=viewer))
        .first()
    )


def task_get_for_patient(*, patient: User, task_id: int) -> Task | None:
    """A task the patient may tick: their own, assigned to them."""
    if not patient.is_authenticated or patient.role != Role.PATIENT:
        return None
    return (
        Task.objects.select_related("need")
        .filter(pk=task_id, assignee=patient, need__patient=patient)
        .first()
    )


def current_case_manager(*, patient: User) -> User | None:
    assignment = (
        CaseManagerAssignment.objects.select_related("case_manager")
        .filter(patient=patient, ended_at=None)
        .first()
    )
    return assignment.case_manager if assignment else None


# --- directory -------------------------------------------------------------------------
def directory_programs(*, user: User) -> QuerySet[Program]:
    """Programs whose directory ``user`` may browse: those they work in and those of the
    patients assigned to them."""
    if not is_case_staff(user):
        return Program.objects.none()
    return Program.objects.filter(
        Q(pk__in=programs_for_staff(user=user).values("pk"))
        | Q(patients__user__in=_assigned_patient_ids(user))
    ).distinct()


def resources_in(
    *, programs: QuerySet[Program] | list[Program], kind: str = "", area: str = "", q: str = ""
) -> list[Resource]:
    """Active directory entries of ``programs``, narrowed by kind, an area they serve
    (exact, case-insensitive) and a word in the name or notes."""
    qs = Resource.objects.filter(program__in=programs, is_active=True).select_related("program")
    if kind:
        qs = qs.filter(kind=kind)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(notes__icontains=q))
    if area:
        # Narrowed in the database, then matched whole: "Oakland" is not "East Oakland".
        qs = qs.filter(areas_served__icontains=area)
        return [r for r in qs if area.casefold() in {a.casefold() for a in r.areas}]
    return list(qs)


def areas_in(*, programs: QuerySet[Program] | list[Program]) -> list[str]:
    values = Resource.objects.filter(program__in=programs, is_active=True).values_list(
        "areas_served", flat=True
    )
    seen: dict[str, str] = {}
    for raw in values:
        for area in raw.split(","):
            if area.strip():
                seen.setdefault(area.strip().casefold(), area.strip())
    return sorted(seen.values(), key=str.casefold)


def resources_for_patient(*, patient: User) -> QuerySet[Resource]:
    """Directory entries a referral for ``patient`` may point at: their program's active ones."""
    return Resource.objects.filter(program__patients__user=patient, is_active=True).order_by(
        "kind", "name"
    )


# --- case load and the record ---------------------------------------------------------
def case_load(*, user: User) -> list[User]:
    """Patients assigned to ``user`` for case management, with counts for the list."""
    if not is_case_staff(user):
        return []
    today = timezone.localdate()
    open_tasks = Task.objects.filter(need__patient=OuterRef("pk"), done_at=None)
    return list(
        User.objects.filter(pk__in=_assigned_patient_ids(user), is_active=True)
        .select_related("patient_profile__program")
        .annotate(
            open_needs=Count(
                "case_needs", filter=Q(case_needs__status__in=NEED_OPEN), distinct=True
            ),
            open_referrals=Count(
                "referrals", filter=Q(referrals__status__in=REFERRAL_OPEN), distinct=True
            ),
            next_due=Subquery(
                open_tasks.exclude(due_date=None).order_by("due_date").values("due_date")[:1]
            ),
            has_overdue=Exists(open_tasks.filter(due_date__lt=today)),
        )
        .order_by("full_name", "pk")
    )


def _tasks_prefetch(queryset: QuerySet[Task] | None = None) -> Prefetch:
    return Prefetch(
        "tasks",
        queryset=(queryset if queryset is not None else Task.objects.all()).select_related(
            "assignee"
        ),
    )


def needs_for(*, patient: User) -> list[Need]:
    return list(
        Need.objects.filter(patient=patient)
        .prefetch_related(_tasks_prefetch())
        .order_by(F("status").asc(), "domain", "pk")
    )


def referrals_for(*, patient: User, kinds: tuple[str, ...] | None = None) -> list[Referral]:
    qs = (
        Referral.objects.filter(patient=patient)
        .select_related("resource", "created_by")
        .prefetch_related(Prefetch("events", queryset=ReferralEvent.objects.select_related("by")))
    )
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return list(qs)


def continuing_care_referrals(*, patient: User) -> list[Referral]:
    return referrals_for(patient=patient, kinds=CONTINUING_CARE_KINDS)


def open_tasks_for_staff(*, user: User, limit: int | None = None) -> list[Task]:
    """A clinician's own open case-management tasks, overdue (earliest due) first, then
    undated; only for patients they may still see."""
    if not is_case_staff(user):
        return []
    qs = (
        Task.objects.filter(
            assignee=user,
            done_at=None,
            need__patient__in=patients_for_case_management(user=user),
        )
        .select_related("need__patient")
        .order_by(F("due_date").asc(nulls_last=True), "pk")
    )
    return list(qs[:limit] if limit else qs)


# --- the patient's own view ---------------------------------------------------------------
def patient_tasks(*, patient: User, open_only: bool = False) -> list[Task]:
    """Tasks assigned to the patient themself."""
    if not patient.is_authenticated or patient.role != Role.PATIENT:
        return []
    qs = (
        Task.objects.filter(assignee=patient, need__patient=patient)
        .select_related("need")
        .order_by(F("done_at").asc(nulls_first=True), F("due_date").asc(nulls_last=True), "pk")
    )
    if open_only:
        qs = qs.filter(done_at=None)
    return list(qs)


def patient_team_tasks(*, patient: User) -> list[Task]:
    """Open tasks the care team is doing for the patient (shown without notes)."""
    return list(
        Task.objects.filter(need__patient=patient, done_at=None)
        .exclude(assignee=patient)
        .select_related("need")
        .order_by(F("due_date").asc(nulls_last=True), "pk")
    )


def patient_referrals(*, patient: User) -> list[Referral]:
    if not patient.is_authenticated or patient.role != Role.PATIENT:
        return []
    return list(
        Referral.objects.filter(patient=patient)
        .select_related("resource")
        .defer("staff_note", "resource__notes")
    )
