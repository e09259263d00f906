"""Demo enrollment data. Idempotent: people who already have an application are left alone.

- Consent documents (version 1 of each, with the 42 CFR Part 2 consent for substance use).
- A small substance-use program (slug ``recovery-iop``) so AUDIT-C, DAST-10 and Part 2 can
  be tried.
- patient1..patient12@demo.test: ADMITTED to adult-iop with intake measures, signed
  consents, a signed treatment plan and a safety plan.
- applicant1..applicant9@demo.test (password demo-pass-1234): one application in every
  state, applicant2's with a flagged PHQ-9 (an open safety flag).
"""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.accounts.services import user_create
from apps.enrollment import selectors, services
from apps.enrollment.models import (
    Application,
    ConsentDocument,
    ConsentKind,
    SafetyPlan,
    Status,
    Transition,
    TreatmentPlan,
)
from apps.measures.models import MeasureContext
from apps.measures.services import measure_submit
from apps.programs.models import Program, ProgramKind, ProgramStaff
from apps.scheduling.demo import open_hours
from apps.scheduling.models import Appointment

DEMO_PASSWORD = "demo-pass-1234"

CONSENTS = [
    (
        ConsentKind.TELEHEALTH,
        "Telehealth informed consent",
        False,
        "You agree to receive care by secure video and messaging.\n\n"
        "Benefits: care from home, no travel. Risks: technology can fail, and privacy depends "
        "partly on where you join from — please join from a private place.\n\n"
        "Video sessions are never recorded: the video service is set up so that it cannot "
        "record them. Please do not record them yourself.\n\n"
        "Each time you join a video session we ask where you are right now, so that we can "
        "send help there in an emergency. If a session drops, we will try to reconnect and "
        "then call you. In an emergency we will use that location and the emergency contact "
        "you gave us.\n\n"
        "You may stop telehealth care at any time.",
    ),
    (
        ConsentKind.TREATMENT,
        "Consent to treatment",
        False,
        "You agree to take part in the Intensive Outpatient Program: group therapy, skills "
        "groups, individual sessions and case management, usually 9 or more hours a week.\n\n"
        "Your clinicians will write a treatment plan with you and review it regularly. You may "
        "ask questions, refuse any part of treatment, or leave the program at any time.",
    ),
    (
        ConsentKind.GROUP,
        "Group confidentiality agreement",
        False,
        "What is said in group stays in group. You agree not to record sessions, not to share "
        "other members' names or stories, and to join from a private place where no one else "
        "can see or hear the group.",
    ),
    (
        ConsentKind.PART2,
        "Consent to disclose substance-use treatment records (42 CFR Part 2)",
        True,
        "What may be disclosed: your substance-use treatment records, including diagnosis, "
        "attendance and progress.\n\n"
        "To whom: the clinicians of this program and your health plan.\n\n"
        "Purpose: treatment, payment and health-care operations.\n\n"
        "Expiry: one year after discharge, unless you revoke it earlier.\n\n"
        "You may revoke this consent at any time in writing, except where we have already "
        "acted on it. Your treatment does not depend on signing it.",
    ),
]

INTAKE = [
    # (phq9 total spread, gad7 per item) — no item 9 answers above 0 for admitted patients
    (14, 2),
    (18, 2),
    (11, 1),
    (9, 2),
    (16, 3),
    (12, 1),
    (20, 2),
    (10, 2),
    (13, 1),
    (15, 2),
    (17, 3),
    (8, 1),
]


def phq9_with_total(total: int) -> dict[str, int]:
    answers = {f"q{n}": 0 for n in range(1, 10)}
    left = total
    for n in range(1, 9):  # item 9 stays 0
        answers[f"q{n}"] = min(3, left)
        left -= answers[f"q{n}"]
    return answers


def _person(email: str, full_name: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = user_create(
            email=email, full_name=full_name, role=Role.PATIENT, password=DEMO_PASSWORD
        )
    EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def _consents() -> None:
    for kind, title, su_only, body in CONSENTS:
        ConsentDocument.objects.get_or_create(
            kind=kind,
            version=1,
            defaults={"title": title, "body": body, "substance_use_only": su_only},
        )


def _sud_program(clinicians: list[User]) -> Program:
    program, _ = Program.objects.get_or_create(
        slug="recovery-iop",
        defaults={
            "name": "Recovery IOP (substance use)",
            "kind": ProgramKind.SUBSTANCE_USE,
            "description": "Evening recovery program for alcohol and drug use, 9 hours a week.",
            "clinic_phone": "(555) 010-0200",
            "states_served": ["CA", "OR", "WA"],
            "time_zone": "America/Los_Angeles",
            "length_weeks": 10,
        },
    )
    for clinician in clinicians:
        ProgramStaff.objects.get_or_create(program=program, user=clinician)
    return program


def _sign_all(patient: User, program: Program, application: Application) -> None:
    for doc in selectors.consents_outstanding(patient=patient, program=program):
        services.consent_sign(
            patient=patient,
            document=doc,
            typed_name=patient.full_name,
            ip="127.0.0.1",
            user_agent="demo seed",
            application=application,
        )


def _admitted_patient(patient: User, program: Program, index: int) -> None:
    """Write an admitted episode directly (the steps happened 'weeks ago')."""
    if Application.objects.filter(patient=patient).exists():
        return
    profile = patient.patient_profile
    clinician = profile.primary_clinician or program.clinicians.filter(role=Role.CLINICIAN).first()
    now = timezone.now()
    # Admitted about six weeks ago (start date 42-53 days back), so progress charts have history.
    started = now - dt.timedelta(days=49 + index)
    app = Application.objects.create(
        patient=patient,
        program=program,
        status=Status.ADMITTED,
        phone=f"+1415555{1000 + index}",
        date_of_birth=dt.date(1975 + index * 2, 1 + index % 12, 10 + index),
        state="CA",
        emergency_name="Demo Contact",
        emergency_phone="+14155550999",
        emergency_relationship="friend",
        heard_from="Primary care referral",
        current_treatment="Weekly therapy",
        reason="Weekly therapy is no longer enough.",
        details_done_at=started,
        insurance_done_at=started,
        preferred_times=[(started + dt.timedelta(days=2)).isoformat()],
        intake_requested_at=started,
        intake_at=started + dt.timedelta(days=3),
        start_date=(started + dt.timedelta(days=7)).date(),
        decided_by=clinician,
        decided_at=started + dt.timedelta(days=4),
        submitted_at=started,
        status_changed_at=started + dt.timedelta(days=4),
    )
    steps = ["", "started", "screened", "submitted", "intake_scheduled", "admitted"]
    for n, (a, b) in enumerate(zip(steps, steps[1:], strict=False)):
        Transition.objects.create(
            application=app,
            from_status=a,
            to_status=b,
            by=patient if n < 3 else clinician,
            at=started + dt.timedelta(days=n),
        )
    phq_total, gad_item = INTAKE[(index - 1) % len(INTAKE)]
    ref = f"application:{app.pk}"
    for code, answers in (
        ("phq9", phq9_with_total(phq_total)),
        ("gad7", {f"q{n}": gad_item for n in range(1, 8)}),
        ("cssrs", {"q1": 0, "q2": 0, "q6": 0}),
    ):
        measure_submit(
            patient=patient,
            instrument=code,
            answers=answers,
            context=MeasureContext.INTAKE,
            ref=ref,
            program=program,
            taken_at=started,
        )
    _sign_all(patient, program, app)
    if clinician is not None and not TreatmentPlan.objects.filter(patient=patient).exists():
        plan = services.treatment_plan_save(
            patient=patient,
            program=program,
            by=clinician,
            problems="Depressed mood and worry most days; poor sleep; pulling away from friends.",
            interventions="Three groups a week (CBT skills, process, relapse prevention); "
            "weekly individual session; behavioural activation homework.",
            review_date=timezone.localdate() + dt.timedelta(days=14),
            goals=[
                {
                    "goal": "Lift mood",
                    "objective": "PHQ-9 below 10 on two check-ins in a row",
                    "target_date": timezone.localdate() + dt.timedelta(days=42),
                },
                {
                    "goal": "Sleep better",
                    "objective": "6 or more hours on 5 nights a week, by sleep diary",
                    "target_date": timezone.localdate() + dt.timedelta(days=28),
                },
            ],
        )
        services.treatment_plan_sign(plan=plan, patient=patient, typed_name=patient.full_name)
    if clinician is not None and not SafetyPlan.objects.filter(patient=patient).exists():
        services.safety_plan_save(
            patient=patient,
            by=clinician,
            data={
                "warning_signs": "Staying in bed past noon; skipping meals; thinking "
                "'nothing will change'.",
                "coping_strategies": "Walk around the block; shower and change clothes; "
                "the 5-4-3-2-1 grounding exercise.",
                "distractions": "The coffee shop on Main Street; calling my cousin; the library.",
                "help_contacts": "My sister — (555) 010-0301\nMy friend Chris — (555) 010-0302",
                "professionals": "My IOP clinician (via the clinic line)\nMy GP — (555) 010-0303",
                "environment": "My sister keeps my medicines and gives me a week at a time.",
                "reason_for_living": "My niece and nephew.",
            },
        )


def _applicant(number: int, name: str) -> User:
    return _person(f"applicant{number}@demo.test", name)


DETAILS = {
    "phone": "+14155550140",
    "date_of_birth": dt.date(1992, 3, 14),
    "state": "CA",
    "emergency_name": "Demo Contact",
    "emergency_phone": "+14155550141",
    "emergency_relationship": "parent",
    "heard_from": "Search engine",
    "current_treatment": "None right now",
    "reason": "Anxiety and low mood are making it hard to work.",
}
CALM = {
    "phq9": phq9_with_total(12),
    "gad7": {f"q{n}": 2 for n in range(1, 8)},
    "cssrs": {"q1": 0, "q2": 0, "q6": 0},
    "auditc": {"q1": 3, "q2": 2, "q3": 2, "sex": 1},
    "dast10": {f"q{n}": 0 for n in range(1, 11)} | {"q1": 1, "q3": 1, "q5": 1},
}


def _walk(patient: User, program: Program, until: str, *, flagged: bool = False) -> Application:
    app = services.application_start(patient=patient, program=program)
    services.application_details_save(application=app, by=patient, data=DETAILS)
    if until == "started":
        return app
    for instrument in selectors.screening_battery(application=app):
        answers = CALM[instrument.code]
        if flagged and instrument.code == "phq9":
            answers = phq9_with_total(16) | {"q9": 1}
        services.application_measure_submit(
            application=app, by=patient, instrument_code=instrument.code, answers=answers
        )
    if until == "screened":
        return app
    _sign_all(patient, program, app)
    services.insurance_save(
        application=app,
        by=patient,
        data={
            "payer": "Demo Health Plan",
            "member_id": f"DHP{patient.pk:06d}",
            "group_number": "G-100",
            "subscriber_relationship": "self",
        },
    )
    services.application_submit(
        application=app,
        by=patient,
        preferred_times=[timezone.now() + dt.timedelta(days=3, hours=2)],
        notes="Evenings are best.",
    )
    app.refresh_from_db()
    return app


def _book_intake(app: Application, staff: User, *, held: bool) -> None:
    """The intake as the clinic books it: the first open weekday slot two days on. A held
    intake is then moved into the past (seeded history)."""
    open_hours(staff)
    zone = staff.time_zone
    for offset in range(2, 16):
        day = timezone.localdate() + dt.timedelta(days=offset)
        if day.weekday() > 4:
            continue
        try:
            services.application_schedule_intake(
                application=app,
                by=staff,
                intake_at=dt.datetime.combine(day, dt.time(15, 0), tzinfo=zone),
                clinician=staff,
            )
        except ValidationError:
            continue
        break
    if held:
        ended = timezone.now() - dt.timedelta(days=62)
        Appointment.objects.filter(patient=app.patient, kind="intake", status="booked").update(
            starts_at=ended - dt.timedelta(hours=1), ends_at=ended, status="completed"
        )


def seed(stdout: TextIO) -> None:
    _consents()
    program = Program.objects.get(slug="adult-iop")
    clinicians = list(
        User.objects.filter(email__in=["clinician1@demo.test", "clinician2@demo.test"]).order_by(
            "email"
        )
    )
    sud = _sud_program(clinicians[1:])  # clinician2 works in both programs
    for number in range(1, 13):
        patient = User.objects.filter(email=f"patient{number}@demo.test").first()
        if patient is not None:
            _admitted_patient(patient, program, number)
    decider = clinicians[0] if clinicians else None
    plans: list[tuple[int, str, Program, str, bool]] = [
        (1, "Blake Applicant", program, "started", False),
        (2, "Robin Flagged", program, "screened", True),
        (3, "Kai Submitted", program, "submitted", False),
        (4, "Emery Scheduled", program, "intake_scheduled", False),
        (5, "Rowan Waitlisted", program, "waitlisted", False),
        (6, "Sage Referred", program, "referred", False),
        (7, "Finley Withdrawn", program, "withdrawn", False),
        (8, "Harper Recovery", sud, "submitted", False),
        (9, "Dakota Discharged", program, "discharged", False),
    ]
    for number, name, target, state, flagged in plans:
        patient = _applicant(number, name)
        if Application.objects.filter(patient=patient).exists() or decider is None:
            continue
        app = _walk(patient, target, state, flagged=flagged)
        if state in ("started", "screened", "submitted"):
            continue
        if state == "withdrawn":
            services.application_withdraw(application=app, by=patient)
            continue
        staff = decider if target == program else clinicians[-1]
        _book_intake(app, staff, held=state == "discharged")
        if state == "waitlisted":
            services.application_waitlist(
                application=app,
                by=staff,
                position=2,
                expected=timezone.localdate() + dt.timedelta(days=21),
            )
        elif state == "referred":
            services.application_refer(
                application=app,
                by=staff,
                reason="Needs a partial hospitalization program first (demo).",
            )
        elif state == "discharged":
            services.application_admit(
                application=app,
                by=staff,
                start_date=timezone.localdate() - dt.timedelta(days=60),
                primary_clinician=staff,
            )
            services.application_discharge(
                application=app,
                by=staff,
                data={
                    "reason": "completed",
                    "follow_up_provider": "Community counselling centre",
                    "follow_up_frequency": "Weekly individual therapy",
                    "support_groups": "Thursday peer support group",
                    "summary": "Attended 34 of 36 groups; mood and sleep improved.",
                },
                phq9=phq9_with_total(4),
                gad7={f"q{n}": 0 for n in range(1, 8)} | {"q1": 1, "q2": 1},
            )
    stdout.write(
        f"  enrollment: {Application.objects.count()} applications, "
        f"{ConsentDocument.objects.count()} consent documents; applicants "
        "applicant1..applicant9@demo.test\n"
    )
