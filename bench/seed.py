"""Realistic data for the page benchmarks: ``python -m bench.seed`` (``--scale 0.1`` for a
tenth, to check query counts do not grow with data).

One program, 500 patients, 20 clinicians, 40 groups (Mon/Wed/Thu, 12-13 members each),
8 weeks of sessions (6 past, 2 ahead), 100,000 chat messages in the past sessions' rooms,
6 weeks of daily check-ins. Bulk inserts through the ORM (the services would take an hour at
this size and the benchmark reads, it does not test the writes); the rows satisfy every model
constraint. Runs against DATABASE_URL (viop_bench); refuses to run twice unless --reset, which
empties the benchmark database first (only a database whose name contains "bench").
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from decimal import Decimal

from bench.common import django_setup

PROGRAM_SLUG = "bench-iop"
PASSWORD = "bench-pass-12345"
CLINICIAN_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _users(User, Role, *, role, count, prefix, password_hash):  # noqa: N803
    users = [
        User(
            email=f"{prefix}{i}@bench.test",
            full_name=f"{prefix.title()} Bench{i}",
            role=role,
            time_zone="America/Los_Angeles",
            password=password_hash,
        )
        for i in range(1, count + 1)
    ]
    return User.objects.bulk_create(users, batch_size=500)


def seed(scale: float = 1.0, reset: bool = False) -> dict[str, int]:
    django_setup()
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from apps.accounts.models import ClinicianProfile, PatientProfile, Role, User
    from apps.programs.models import Program, ProgramKind, ProgramStaff
    from apps.scheduling.models import Group, GroupMembership, Session

    existing = Program.objects.filter(slug=PROGRAM_SLUG).first()
    if existing and not reset:
        print("bench seed: already seeded (use --reset to rebuild)")
        return counts()
    if existing:
        _reset()

    rng = random.Random(9)
    n_patients = max(16, int(500 * scale))
    n_clinicians = max(2, int(20 * scale))
    n_groups = max(2, int(40 * scale))
    n_messages = int(100_000 * scale)
    started = time.monotonic()
    now = timezone.now()
    today = now.date()
    with transaction.atomic():
        program = Program.objects.create(
            name="Bench Adult IOP",
            slug=PROGRAM_SLUG,
            kind=ProgramKind.MENTAL_HEALTH,
            clinic_phone="(555) 010-0199",
            states_served=["CA"],
            time_zone="America/Los_Angeles",
        )
        pw = make_password(PASSWORD)
        clinicians = _users(
            User, Role, role=Role.CLINICIAN, count=n_clinicians, prefix="clin", password_hash=pw
        )
        patients = _users(
            User, Role, role=Role.PATIENT, count=n_patients, prefix="pat", password_hash=pw
        )
        ClinicianProfile.objects.bulk_create([ClinicianProfile(user=u) for u in clinicians])
        PatientProfile.objects.bulk_create(
            [
                PatientProfile(
                    user=u, program=program, primary_clinician=clinicians[i % n_clinicians]
                )
                for i, u in enumerate(patients)
            ],
            batch_size=500,
        )
        EmailAddress.objects.bulk_create(
            [
                EmailAddress(user=u, email=u.email, verified=True, primary=True)
                for u in [*clinicians, *patients]
            ],
            batch_size=500,
        )
        ProgramStaff.objects.bulk_create(
            [ProgramStaff(program=program, user=u) for u in clinicians]
        )
    for clinician in clinicians:
        _enrol_totp(clinician)

    # Groups: Mon/Wed/Thu, staggered start times, 12-13 members, 1 facilitator each.
    start_date = today - dt.timedelta(weeks=6)
    start_date -= dt.timedelta(days=start_date.weekday())  # a Monday
    groups = []
    with transaction.atomic():
        for g in range(n_groups):
            group = Group.objects.create(
                program=program,
                name=f"Bench group {g + 1}",
                kind=_first_choice(Group, "kind"),
                track=_first_choice(Group, "track"),
                rrule="FREQ=WEEKLY;BYDAY=MO,WE,TH",
                start_time=dt.time(9 + (g % 10), 0),
                duration_minutes=180,
                start_date=start_date,
                capacity=16,
            )
            group.facilitators.add(clinicians[g % n_clinicians])
            groups.append(group)
        memberships = [
            GroupMembership(
                group=groups[i % n_groups],
                patient=patient,
                from_date=start_date,
                status="active",
            )
            for i, patient in enumerate(patients)
        ]
        GroupMembership.objects.bulk_create(memberships, batch_size=500)
        sessions = []
        for group in groups:
            for week in range(8):
                for weekday in (0, 2, 3):
                    day = start_date + dt.timedelta(weeks=week, days=weekday)
                    starts = dt.datetime.combine(
                        day, group.start_time, tzinfo=dt.UTC
                    ) + dt.timedelta(hours=8)
                    sessions.append(
                        Session(
                            group=group,
                            occurrence_date=day,
                            starts_at=starts,
                            ends_at=starts + dt.timedelta(minutes=180),
                        )
                    )
        Session.objects.bulk_create(sessions, batch_size=1000)
    past = list(Session.objects.filter(group__program=program, ends_at__lt=now))
    members_by_group: dict[int, list[int]] = {}
    for m in memberships:
        members_by_group.setdefault(m.group_id, []).append(m.patient_id)
    facilitator_by_group = {g.pk: clinicians[i % n_clinicians].pk for i, g in enumerate(groups)}

    made_messages = _seed_rooms(past, members_by_group, facilitator_by_group, n_messages, rng)
    made_checkins = _seed_checkins(patients, program, today, rng)
    print(
        f"bench seed: {n_patients} patients, {n_clinicians} clinicians, {n_groups} groups, "
        f"{len(sessions)} sessions, {made_messages} messages, {made_checkins} check-ins "
        f"in {time.monotonic() - started:.0f} s"
    )
    return counts()


def _first_choice(model, field: str) -> str:
    return model._meta.get_field(field).choices[0][0]


def _enrol_totp(user) -> None:
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(user, CLINICIAN_TOTP)


def _seed_rooms(past, members_by_group, facilitator_by_group, n_messages, rng) -> int:
    try:
        from apps.rooms.models import Message, MessageKind, Participant, ParticipantStatus, Room
    except ImportError:
        return 0
    from django.db import transaction

    if not past or not n_messages:
        return 0
    per_room = max(1, n_messages // len(past))
    made = 0
    with transaction.atomic():
        rooms = Room.objects.bulk_create([Room(session=s, ended_at=s.ends_at) for s in past])
        participants = []
        batch = []
        for room, session in zip(rooms, past, strict=True):
            people = [facilitator_by_group[session.group_id], *members_by_group[session.group_id]]
            for uid in people:
                participants.append(
                    Participant(
                        room=room,
                        user_id=uid,
                        is_facilitator=uid == people[0],
                        status=ParticipantStatus.ADMITTED,
                        admitted_at=session.starts_at,
                    )
                )
            step = dt.timedelta(seconds=10_800 / per_room)
            for k in range(per_room):
                if made >= n_messages:
                    break
                batch.append(
                    Message(
                        room=room,
                        kind=MessageKind.CHAT,
                        author_id=rng.choice(people),
                        client_id=f"seed-{room.pk}-{k}",
                        body=f"Seeded message {k} about today's skill practice.",
                        created_at=session.starts_at + step * k,
                        seq=k + 1,
                    )
                )
                room.message_seq = k + 1
                made += 1
            if len(batch) >= 5000:
                Message.objects.bulk_create(batch, batch_size=5000)
                batch = []
        Message.objects.bulk_create(batch, batch_size=5000)
        Room.objects.bulk_update(rooms, ["message_seq"], batch_size=2000)
        Participant.objects.bulk_create(participants, batch_size=2000)
    return made


def _seed_checkins(patients, program, today, rng) -> int:
    try:
        from apps.progress.models import DailyCheckIn
    except ImportError:
        return 0
    rows = []
    for patient in patients:
        for back in range(42):
            if rng.random() < 0.15:  # missed days leave gaps, as in life
                continue
            rows.append(
                DailyCheckIn(
                    patient=patient,
                    program=program,
                    day=today - dt.timedelta(days=back),
                    mood=rng.randint(2, 9),
                    anxiety=rng.randint(1, 8),
                    sleep_hours=Decimal(rng.randint(40, 90)) / 10,
                    sleep_quality=rng.randint(1, 4),
                    skills_used=[],
                )
            )
    DailyCheckIn.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _reset() -> None:
    """Empty the benchmark database (flush). Refused unless it is a bench database."""
    from django.core.management import call_command
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if "bench" not in name:
        raise SystemExit(f"bench seed: refusing to flush {name!r} (not a bench database)")
    call_command("flush", interactive=False, verbosity=0)


def counts() -> dict[str, int]:
    from apps.accounts.models import User
    from apps.scheduling.models import Session

    data = {
        "patients": User.objects.filter(
            email__startswith="pat", email__endswith="@bench.test"
        ).count(),
        "sessions": Session.objects.filter(group__program__slug=PROGRAM_SLUG).count(),
    }
    try:
        from apps.rooms.models import Message

        data["messages"] = Message.objects.filter(
            room__session__group__program__slug=PROGRAM_SLUG
        ).count()
    except ImportError:
        pass
    return data


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Seed viop_bench for the page benchmarks.")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reset", action="store_true")
    ns = parser.parse_args()
    print(seed(ns.scale, ns.reset))
