"""Demo homework: load the modules, then give the demo patients a realistic mix of
assignments (in progress, submitted with practice logs, one reviewed). Idempotent: an
assignment that exists for a patient and module is left as it is."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.homework import selectors, services
from apps.homework.answers import DictData
from apps.homework.loader import load_modules
from apps.homework.models import Assignment, Module
from apps.scheduling.models import Group

# Stable entry ids so reseeding never adds entries twice.
NAMESPACE = uuid.UUID("6f1c3a52-94a7-4a55-9a6e-3d6b2f0c7a10")


def _entry_id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _answer(assignment: Assignment, patient: User, step_id: str, data: dict[str, Any]) -> None:
    services.response_save(
        assignment=assignment, user=patient, step_id=step_id, data=DictData(data)
    )


def _log(assignment: Assignment, patient: User, step_id: str, rows: list[dict[str, Any]]) -> None:
    today = timezone.localdate()
    for index, row in enumerate(rows):
        day = today - dt.timedelta(days=len(rows) - index)
        data = {"entry_id": _entry_id(assignment.pk, step_id, index), "date": day.isoformat()}
        data.update({f"f-{k}": v for k, v in row.items()})
        services.log_entry_add(
            assignment=assignment, user=patient, step_id=step_id, data=DictData(data)
        )


def _assign(
    clinician: User, patient: User, slug: str, *, due_in: int | None, note: str = ""
) -> Assignment | None:
    module = Module.objects.get(slug=slug)
    if Assignment.objects.filter(patient=patient, module=module).exists():
        return None
    due = timezone.localdate() + dt.timedelta(days=due_in) if due_in is not None else None
    if due is not None and due < timezone.localdate():
        # Demo of an overdue assignment: created with a future date, then moved back.
        assignment, _created = services.assignment_create(
            clinician=clinician, patient=patient, module=module, due_date=None, note=note
        )
        Assignment.objects.filter(pk=assignment.pk).update(due_date=due)
        assignment.refresh_from_db()
        return assignment
    assignment, _created = services.assignment_create(
        clinician=clinician, patient=patient, module=module, due_date=due, note=note
    )
    return assignment


def _breathing(a: Assignment, p: User, *, entries: int, finish: bool) -> None:
    _answer(a, p, "why-breathing", {"read": "1"})
    _answer(a, p, "check-understanding", {"choice": "longer-out"})
    _answer(a, p, "plan", {"item": ["time", "cue", "place"]})
    rows = [
        {"time": "07:30", "minutes": 5, "stress_before": 7, "stress_after": 4},
        {"time": "21:00", "minutes": 5, "stress_before": 6, "stress_after": 3},
        {"time": "12:15", "minutes": 4, "stress_before": 8, "stress_after": 5, "notes": "At work"},
        {"time": "07:45", "minutes": 6, "stress_before": 5, "stress_after": 2},
    ]
    _log(a, p, "breathing-log", rows[:entries])
    if finish:
        _answer(
            a,
            p,
            "reflection",
            {"text": "My shoulders dropped after a couple of minutes. It helps most before work."},
        )
        services.assignment_submit(assignment=a, user=p)


def _urges(a: Assignment, p: User) -> None:
    _answer(a, p, "waves", {"read": "1"})
    _answer(a, p, "check", {"choice": "passes"})
    _log(
        a,
        p,
        "surf-log",
        [
            {"time": "18:30", "trigger": "Payday", "craving_before": 8, "minutes": 25,
             "craving_after": 4, "helped": "Walked the dog"},
            {"time": "22:00", "craving_before": 6, "minutes": 15, "craving_after": 3},
            {"time": "17:45", "trigger": "Argument", "craving_before": 9, "minutes": 30,
             "craving_after": 5, "helped": "Called my sister"},
            {"time": "20:10", "craving_before": 5, "minutes": 10, "craving_after": 2},
        ],
    )  # fmt: skip
    _answer(
        a,
        p,
        "reflection",
        {"text": "The urge was strongest in the first ten minutes and then slowly eased off."},
    )
    services.assignment_submit(assignment=a, user=p)


def _plan(a: Assignment, p: User) -> None:
    _answer(a, p, "relapse-process", {"read": "1"})
    _answer(a, p, "stages", {"choice": ["isolating", "sleep"]})
    _answer(
        a,
        p,
        "plan",
        {
            "f-warning_signs": "Skipping meals, staying in my room, not answering texts.",
            "f-coping": "Paced breathing, a walk, an evening meeting.",
            "f-people": "My sister; my sponsor.",
            "f-safe_places": "The library, my sister's place.",
            "f-professionals": "My clinician, the clinic line, 988.",
            "f-reasons": "My kids, my health, my job.",
        },
    )
    _answer(a, p, "share", {"item": ["shared", "saved"]})
    _answer(
        a, p, "reflection", {"text": "Isolating is always first. I tell myself I'm just tired."}
    )
    services.assignment_submit(assignment=a, user=p)


def _group_assign(clinician: User, program_slug: str, stdout: TextIO) -> None:
    """The relapse prevention group's latest session whose curriculum topic names a module
    gets that module (the suggestion a clinician would accept on the session page)."""
    group = (
        Group.objects.filter(program__slug=program_slug, name="Evening Relapse Prevention")
        .select_related("program")
        .first()
    )
    if group is None or Assignment.objects.filter(group=group).exists():
        return
    now = timezone.now()
    # The latest past session first (older demo databases have topics only on sessions
    # generated since topics rotated: then the next one).
    candidates = [
        *group.sessions.filter(starts_at__lt=now).order_by("-starts_at"),
        *group.sessions.filter(starts_at__gte=now).order_by("starts_at"),
    ]
    for session in candidates:
        module = selectors.module_suggested_for_session(session=session)
        if module is not None:
            break
    else:
        return
    result = services.assignment_create_for_group(
        clinician=clinician,
        group=group,
        module=module,
        due_date=timezone.localdate() + dt.timedelta(days=6),
        note="Bring this to the next group.",
        session=session,
    )
    stdout.write(
        f"  homework: {module.slug} (topic of session {session.pk}) assigned to group "
        f"{group.pk} ({len(result.created)})\n"
    )


def seed(stdout: TextIO) -> None:
    report = load_modules()
    stdout.write(
        f"  homework: {Module.objects.count()} modules "
        f"({len(report.created_modules)} new, {len(report.new_versions)} new versions)\n"
    )
    clinician = User.objects.filter(email="clinician1@demo.test").first()
    patients = {n: User.objects.filter(email=f"patient{n}@demo.test").first() for n in range(1, 13)}
    if clinician is None or not all(patients.values()):
        stdout.write("  homework: demo people missing; assignments skipped\n")
        return
    p = {n: u for n, u in patients.items() if u is not None}

    if a := _assign(clinician, p[1], "paced-breathing", due_in=3, note="Try it before work."):
        _breathing(a, p[1], entries=2, finish=False)
    if a := _assign(clinician, p[1], "urge-surfing", due_in=1):
        _urges(a, p[1])
        services.feedback_add(
            assignment=a,
            clinician=clinician,
            body="Great logging. Notice how every craving came down by the end of the surf.",
        )
    if a := _assign(clinician, p[2], "urge-surfing", due_in=2):
        _urges(a, p[2])
    if a := _assign(clinician, p[3], "warning-signs-plan", due_in=4):
        _plan(a, p[3])
    if a := _assign(clinician, p[4], "check-the-facts", due_in=-2):
        _answer(a, p[4], "intro", {"read": "1"})
        _answer(a, p[4], "before", {"value": "8"})
    if a := _assign(clinician, p[5], "paced-breathing", due_in=5):
        _breathing(a, p[5], entries=4, finish=True)
    _assign(clinician, p[6], "name-the-emotion", due_in=7)
    _assign(clinician, p[7], "opposite-action", due_in=7)
    _group_assign(clinician, "adult-iop", stdout)
    stdout.write(f"  homework: {Assignment.objects.count()} assignments\n")
