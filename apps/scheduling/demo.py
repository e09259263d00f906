"""Demo schedule for adult-iop: a morning and an evening track, a weekend
psychoeducation group, memberships for every demo patient, individual appointments, past
attendance, and one session live right now (patients 1-8) for trying the rooms.

Idempotent: groups, memberships, attendance and appointments are created once; the live
session is moved to "now" on every run so there is always one to join.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.programs.models import Program
from apps.scheduling import curriculum, services
from apps.scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Attendance,
    AttendanceStatus,
    ClinicianAvailability,
    Group,
    GroupMembership,
    Session,
    SessionStatus,
)
from apps.scheduling.recurrence import rrule_weekly
from apps.scheduling.selectors import session_roster

# No time of day in the name: its session is moved to "now" on every `make run`.
LIVE_GROUP = "Drop-in Process Group (live demo)"
HISTORY_DAYS = 21

GROUPS: list[tuple[Any, ...]] = [
    # name, kind, track, days, start, minutes, facilitator index, patient numbers, topics
    (
        "Morning Process Group",
        "process",
        "morning",
        [0, 2, 4],
        dt.time(9, 0),
        90,
        0,
        range(1, 7),
        [],
    ),
    (
        "Morning DBT Skills Group",
        "skills",
        "morning",
        [0, 2, 4],
        dt.time(10, 45),
        75,
        0,
        range(1, 7),
        [
            {"title": "Mindfulness", "module": "paced-breathing"},
            {"title": "Distress tolerance", "module": "progressive-muscle-relaxation"},
            {"title": "Emotion regulation", "module": "name-the-emotion"},
            {"title": "Interpersonal effectiveness", "module": ""},
        ],
    ),
    (
        "Evening Process Group",
        "process",
        "evening",
        [0, 1, 3],
        dt.time(18, 0),
        90,
        1,
        range(7, 13),
        [],
    ),
    (
        "Evening Relapse Prevention",
        "relapse_prevention",
        "evening",
        [0, 1, 3],
        dt.time(19, 45),
        75,
        1,
        range(7, 13),
        [
            {"title": "High-risk situations", "module": "triggers-map"},
            {"title": "Cravings and urges", "module": "urge-surfing"},
            {"title": "Coping plan", "module": "warning-signs-plan"},
            "Lapse vs relapse",  # a plain title (as stored before topics named modules)
        ],
    ),
    (
        "Weekend Psychoeducation",
        "psychoeducation",
        "weekend",
        [5],
        dt.time(10, 0),
        90,
        1,
        range(1, 13),
        [
            "Depression and anxiety",
            "Sleep",
            "Medication basics",
            {"title": "Stress and the body", "module": "stress-diary"},
        ],
    ),
    (LIVE_GROUP, "process", "weekend", list(range(7)), dt.time(12, 0), 120, 0, range(1, 9), []),
]


def _attendance_for(patient_pk: int, session_pk: int, minutes: int) -> tuple[str, int]:
    roll = (patient_pk * 7 + session_pk * 3) % 10
    if roll == 0:
        return AttendanceStatus.ABSENT, 0
    if roll == 1:
        return AttendanceStatus.EXCUSED, 0
    if roll == 2:
        return AttendanceStatus.LATE, max(0, minutes - 20)
    if roll == 3:
        return AttendanceStatus.LEFT_EARLY, max(0, minutes - 30)
    return AttendanceStatus.PRESENT, minutes


def seed(stdout: TextIO) -> None:
    program = Program.objects.filter(slug="adult-iop").first()
    if program is None:
        stdout.write("  scheduling: no adult-iop program, skipped\n")
        return
    clinicians = [
        User.objects.get(email="clinician1@demo.test"),
        User.objects.get(email="clinician2@demo.test"),
    ]
    patients = {n: User.objects.filter(email=f"patient{n}@demo.test").first() for n in range(1, 13)}
    now = timezone.now()
    tz = program.time_zone
    today = now.astimezone(tz).date()
    start_date = today - dt.timedelta(days=HISTORY_DAYS + 7)

    for name, kind, track, days, start, minutes, fac, members, topics in GROUPS:
        group = Group.objects.filter(program=program, name=name).first()
        if group is None:
            group = services.group_create(
                program=program,
                by=None,
                series=services.GroupSeries(
                    name=name,
                    kind=kind,
                    track=track,
                    rrule=rrule_weekly(days),
                    start_time=start,
                    duration_minutes=minutes,
                    start_date=start_date,
                    capacity=12,
                    curriculum_topics=topics,
                ),
                facilitators=[clinicians[fac]],
            )
        elif curriculum.topics_read(group.curriculum_topics) != curriculum.topics_read(topics):
            # Demo databases from before topics named modules: bring the curriculum up to date
            # (sessions_generate below gives sessions without a topic theirs).
            group.curriculum_topics = curriculum.topics_clean(topics)
            group.save(update_fields=["curriculum_topics", "updated_at"])
        services.sessions_generate(group=group, since=today - dt.timedelta(days=HISTORY_DAYS))
        for number in members:
            patient = patients.get(number)
            if (
                patient is None
                or GroupMembership.objects.filter(group=group, patient=patient).exists()
            ):
                continue
            services.membership_add(
                group=group,
                patient=patient,
                by=None,
                from_date=today - dt.timedelta(days=HISTORY_DAYS),
            )
        # Past attendance, confirmed by the facilitator.
        for session in Session.objects.filter(
            group=group, ends_at__lt=now, status=SessionStatus.SCHEDULED
        ).exclude(attendance__isnull=False):
            if group.name == LIVE_GROUP:
                continue
            entries = []
            for member in session_roster(session=session):
                status, mins = _attendance_for(member.pk, session.pk, session.duration_minutes)
                entries.append(services.AttendanceEntry(member.pk, status, mins))
            if entries:
                services.attendance_confirm_roster(
                    session=session, by=clinicians[fac], entries=entries, now=now
                )

    live, live_visit = live_refresh(program=program, clinicians=clinicians, patients=patients)

    # Weekly open hours (clinician's zone) and some appointments.
    for clinician in clinicians:
        open_hours(clinician)
    # The live visit (above) is made on every run; the history is made once.
    history = Appointment.objects.filter(program=program)
    if live_visit is not None:
        history = history.exclude(pk=live_visit.pk)
    if not history.exists():
        for number in range(1, 13):
            patient = patients.get(number)
            if patient is None:
                continue
            clinician = clinicians[number % 2]
            ctz = clinician.time_zone
            past_day = today - dt.timedelta(days=(number % 5) + 1)
            past_start = dt.datetime.combine(past_day, dt.time(14, 0), tzinfo=ctz)
            Appointment.objects.create(
                program=program,
                clinician=clinician,
                patient=patient,
                kind=AppointmentKind.INDIVIDUAL,
                starts_at=past_start,
                ends_at=past_start + dt.timedelta(minutes=50),
                status=AppointmentStatus.COMPLETED,
                created_by=clinician,
            )
            # A future one in an open slot, booked through the service (checks clashes).
            for offset in range(1, 15):
                day = today + dt.timedelta(days=offset)
                if day.weekday() > 4:
                    continue
                hour = 14 + (number % 3)
                slot = dt.datetime.combine(day, dt.time(hour, 0), tzinfo=ctz)
                try:
                    services.appointment_book(
                        clinician=clinician,
                        patient=patient,
                        kind=AppointmentKind.MEDICATION
                        if number % 3 == 0
                        else AppointmentKind.INDIVIDUAL,
                        starts_at=slot,
                        ends_at=slot + dt.timedelta(minutes=50),
                        by=clinician,
                    )
                except services.SchedulingError:
                    continue
                break
    stdout.write(
        f"  scheduling: {Group.objects.filter(program=program).count()} groups, "
        f"{Session.objects.filter(group__program=program).count()} sessions, "
        f"live session /rooms/{live.pk}/"
        + (f", live visit /video/visit/{live_visit.pk}/" if live_visit else "")
        + "\n"
    )


def open_hours(clinician: User) -> None:
    """The demo clinicians' weekly open hours: weekdays 1–5 pm in their zone (once)."""
    if not ClinicianAvailability.objects.filter(clinician=clinician).exists():
        services.availability_set(
            clinician=clinician,
            by=clinician,
            windows=[(d, dt.time(13, 0), dt.time(17, 0)) for d in range(5)],
        )


def live_refresh(
    *,
    program: Program,
    clinicians: list[User] | None = None,
    patients: dict[int, User | None] | None = None,
) -> tuple[Session, Appointment | None]:
    """Move the live demo group's session and the live 1:1 visit to now, so a newcomer
    who comes back another day still finds a room to join (``manage.py demo_live``, run by
    every ``make run``)."""
    now = timezone.now()
    today = now.astimezone(program.time_zone).date()
    clinicians = clinicians or [
        User.objects.get(email="clinician1@demo.test"),
        User.objects.get(email="clinician2@demo.test"),
    ]
    patients = patients or {1: User.objects.filter(email="patient1@demo.test").first()}
    # The live session: today's occurrence of the live group, started 5 minutes ago.
    live_group = Group.objects.filter(program=program, name__endswith="(live demo)").first()
    if live_group is None:
        raise Group.DoesNotExist("no live demo group: run seed_demo")
    if live_group.name != LIVE_GROUP:  # named by a time of day in earlier demos
        live_group.name = LIVE_GROUP
        live_group.save(update_fields=["name"])
    Session.objects.filter(group=live_group, ends_at__lt=now).exclude(
        status=SessionStatus.CANCELLED
    ).update(status=SessionStatus.COMPLETED)
    live, _created = Session.objects.update_or_create(
        group=live_group,
        occurrence_date=today,
        defaults={
            "starts_at": now - dt.timedelta(minutes=5),
            "ends_at": now + dt.timedelta(hours=2),
            "status": SessionStatus.SCHEDULED,
            "cancel_reason": "",
            "is_modified": True,
            "topic": "Check-in and goals for the week",
        },
    )
    Attendance.objects.filter(session=live).delete()

    # A 1:1 video visit running now, so the visit page and its waiting room can be tried.
    visit_patient, visit_clinician = patients.get(1), clinicians[0]
    live_visit = None
    if visit_patient is not None:
        live_visit = (
            Appointment.objects.filter(
                patient=visit_patient,
                clinician=visit_clinician,
                status=AppointmentStatus.BOOKED,
                kind=AppointmentKind.INDIVIDUAL,
                starts_at__lt=now + dt.timedelta(hours=1),
                ends_at__gt=now - dt.timedelta(hours=12),
            )
            .order_by("-starts_at")
            .first()
        )
        if live_visit is None:
            live_visit = Appointment(
                program=program,
                clinician=visit_clinician,
                patient=visit_patient,
                kind=AppointmentKind.INDIVIDUAL,
                created_by=visit_clinician,
            )
        live_visit.starts_at = now - dt.timedelta(minutes=2)
        live_visit.ends_at = now + dt.timedelta(minutes=58)
        live_visit.save()
    return live, live_visit
