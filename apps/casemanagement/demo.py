"""Demo case management: a resource directory for the demo program (fictional entries),
clinician2 as case manager of patient1..patient4, referrals in every state and needs with
tasks for patient1..patient3. Idempotent: a patient who already has referrals or needs is
left as they are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.casemanagement import services
from apps.casemanagement.models import (
    Need,
    NeedDomain,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Resource,
    ResourceKind,
)
from apps.programs.models import Program

K = ResourceKind
# All fictional: 555 numbers, .example addresses.
RESOURCES = [
    (
        K.OUTPATIENT_THERAPIST,
        "Harbor Light Counseling",
        "(555) 010-2101",
        "intake@harborlight.example",
        "https://harborlight.example",
        "410 Alder St, Suite 2, Oakland, CA",
        "Oakland, Berkeley, Telehealth (CA)",
        "CBT and DBT-informed individual therapy. Takes Medi-Cal and most PPOs. New-client intake calls Tue/Thu mornings.",
    ),
    (
        K.OUTPATIENT_THERAPIST,
        "Westside Recovery Therapy Group",
        "(555) 010-2102",
        "hello@westsiderecovery.example",
        "https://westsiderecovery.example",
        "88 Mission Ave, San Francisco, CA",
        "San Francisco, Telehealth (CA)",
        "Co-occurring disorders; sliding scale. Evening appointments.",
    ),
    (
        K.PSYCHIATRIST,
        "Dr. Priya Raman, MD (Bay Psychiatric Associates)",
        "(555) 010-2201",
        "referrals@baypsych.example",
        "https://baypsych.example",
        "1200 Broadway, Floor 5, Oakland, CA",
        "Oakland, Telehealth (CA)",
        "Medication management after IOP. Fax the referral and last two notes; wait about 3 weeks.",
    ),
    (
        K.PSYCHIATRIST,
        "Cascade Telepsychiatry",
        "(555) 010-2202",
        "care@cascadetelepsych.example",
        "https://cascadetelepsych.example",
        "",
        "Telehealth (CA), Telehealth (OR), Telehealth (WA)",
        "Video-only psychiatric NP visits. Self-pay and Aetna.",
    ),
    (
        K.SUPPORT_GROUP,
        "Lakeview SMART Recovery meeting",
        "",
        "",
        "https://smartlakeview.example",
        "Lakeview Community Center, 300 Grand Ave, Oakland, CA",
        "Oakland, Online",
        "Thursdays 6:30 pm in person, Sundays 10 am online. Free, no sign-up.",
    ),
    (
        K.SUPPORT_GROUP,
        "Peer Support Warmline",
        "(555) 010-2302",
        "",
        "https://warmline.example",
        "",
        "California, Online",
        "Non-crisis peer listening line, 5 pm – 11 pm daily. For crisis, 988.",
    ),
    (
        K.HOUSING,
        "East Bay Housing Navigation Center",
        "(555) 010-2401",
        "navigators@ebhousing.example",
        "https://ebhousing.example",
        "2100 San Pablo Ave, Berkeley, CA",
        "Berkeley, Oakland, Alameda County",
        "Coordinated entry assessments, rental assistance applications. Walk-in Mon/Wed 9–12.",
    ),
    (
        K.HOUSING,
        "Second Step Sober Living",
        "(555) 010-2402",
        "beds@secondstep.example",
        "",
        "Oakland, CA (address on request)",
        "Oakland",
        "Recovery residence; 90-day minimum; weekly fee. Ask for current openings.",
    ),
    (
        K.EMPLOYMENT,
        "WorkBridge Supported Employment",
        "(555) 010-2501",
        "ips@workbridge.example",
        "https://workbridge.example",
        "55 Clay St, Oakland, CA",
        "Oakland, Alameda County",
        "IPS supported employment: job coaching, benefits counseling.",
    ),
    (
        K.LEGAL,
        "Community Legal Aid Clinic",
        "(555) 010-2601",
        "intake@clac.example",
        "https://clac.example",
        "900 Webster St, Oakland, CA",
        "Alameda County, Contra Costa County",
        "Free help with evictions, expungement, benefits denials. Phone intake only.",
    ),
    (
        K.TRANSPORT,
        "Ride to Care (Medi-Cal transport)",
        "(555) 010-2701",
        "",
        "https://ridetocare.example",
        "",
        "Alameda County, Contra Costa County",
        "Non-emergency medical transport; book 2 business days ahead.",
    ),
    (
        K.FOOD,
        "Alameda Community Food Pantry",
        "(555) 010-2801",
        "",
        "https://acfoodpantry.example",
        "1450 Fruitvale Ave, Oakland, CA",
        "Oakland, Alameda County",
        "Weekly groceries, no ID needed. CalFresh application help on Fridays.",
    ),
    (
        K.OTHER,
        "Benefits Enrollment Desk (SSI/SSDI)",
        "(555) 010-2901",
        "benefits@countyhelp.example",
        "",
        "County Services Building, Oakland, CA",
        "Alameda County",
        "Help applying for SSI/SSDI and Medi-Cal renewals.",
    ),
]


def _resource(program: Program, name: str) -> Resource:
    return Resource.objects.get(program=program, name=name)


def _walk(
    referral: Referral, by: User, path: Sequence[str], *, start: dt.date, appointment_in: int = 5
) -> None:
    day = start
    for step in path:
        day = min(day + dt.timedelta(days=2), timezone.localdate())
        appointment = None
        if step == ReferralStatus.APPOINTMENT_MADE:
            appointment = (timezone.localtime() + dt.timedelta(days=appointment_in)).replace(
                hour=10, minute=0, second=0, microsecond=0
            )
        services.referral_transition(
            referral_id=referral.pk,
            by=by,
            to_status=step,
            expected_status=Referral.objects.get(pk=referral.pk).status,
            occurred_on=day,
            appointment_at=appointment,
        )


def seed(stdout: TextIO) -> None:
    program = Program.objects.filter(slug="adult-iop").first()
    manager = User.objects.filter(email="clinician2@demo.test").first()
    if program is None or manager is None:
        return
    for kind, name, phone, email, website, address, areas, notes in RESOURCES:
        Resource.objects.get_or_create(
            program=program,
            kind=kind,
            name=name,
            defaults={
                "phone": phone,
                "email": email,
                "website": website,
                "address": address,
                "areas_served": areas,
                "notes": notes,
            },
        )
    patients = {n: User.objects.filter(email=f"patient{n}@demo.test").first() for n in range(1, 5)}
    for patient in patients.values():
        if patient is not None:
            services.case_manager_assign(patient=patient, case_manager=manager, by=None)

    S = ReferralStatus
    start = timezone.localdate() - dt.timedelta(days=14)
    plan = {
        1: [
            (
                "Harbor Light Counseling",
                "Weekly individual therapy after IOP.",
                [S.SENT, S.ACCEPTED, S.APPOINTMENT_MADE],
            ),
            (
                "Dr. Priya Raman, MD (Bay Psychiatric Associates)",
                "Medication management after discharge.",
                [S.SENT],
            ),
            (
                "East Bay Housing Navigation Center",
                "Help finding stable housing.",
                [S.SENT, S.ACCEPTED],
            ),
        ],
        2: [
            ("WorkBridge Supported Employment", "Support returning to work.", []),
            (
                "Alameda Community Food Pantry",
                "Groceries while benefits are pending.",
                [S.SENT, S.ACCEPTED, S.APPOINTMENT_MADE, S.COMPLETED],
            ),
            ("Cascade Telepsychiatry", "Continuing medication management.", [S.SENT, S.DECLINED]),
        ],
        3: [
            ("Community Legal Aid Clinic", "Help with an eviction notice.", [S.SENT, S.ACCEPTED]),
            ("Westside Recovery Therapy Group", "Step-down individual therapy.", []),
        ],
    }
    needs = {
        1: [
            (
                NeedDomain.HOUSING,
                "Find stable housing before discharge; currently staying with a friend.",
                [
                    ("Gather last 3 pay stubs and ID", True, 2, False),
                    ("Call the housing navigation center for an assessment", False, -1, False),
                    ("Complete the rental assistance application", True, 6, False),
                ],
            )
        ],
        2: [
            (
                NeedDomain.EMPLOYMENT,
                "Return to part-time work within two months.",
                [
                    ("Update résumé with job coach", True, 4, False),
                    ("Send WorkBridge intake form", False, 1, True),
                ],
            )
        ],
        3: [
            (
                NeedDomain.LEGAL,
                "Respond to eviction notice before the court date.",
                [
                    ("Bring the notice to the legal aid phone intake", True, 1, False),
                    ("Confirm court date with legal aid", False, 3, False),
                ],
            ),
            (
                NeedDomain.SCHOOL,
                "Re-enrol in community college for the spring term.",
                [("Look up the spring enrolment deadline", True, 10, False)],
            ),
        ],
    }
    for n, referrals in plan.items():
        patient = patients.get(n)
        if patient is None or Referral.objects.filter(patient=patient).exists():
            continue
        for name, reason, path in referrals:
            referral = services.referral_create(
                patient=patient, by=manager, resource=_resource(program, name), reason=reason
            )
            # Proposed two weeks ago, so the steps after it can be dated in between.
            ReferralEvent.objects.filter(referral=referral).update(occurred_on=start)
            _walk(referral, manager, path, start=start)
    for n, items in needs.items():
        patient = patients.get(n)
        if patient is None or Need.objects.filter(patient=patient).exists():
            continue
        for domain, description, tasks in items:
            need = services.need_create(
                patient=patient, by=manager, domain=domain, description=description
            )
            for title, for_patient, due_in, done in tasks:
                task = services.task_create(
                    need=need,
                    by=manager,
                    title=title,
                    assignee=patient if for_patient else manager,
                    due_date=timezone.localdate() + dt.timedelta(days=due_in),
                )
                if done:
                    services.task_done_set(task_id=task.pk, by=manager, done=True)
    stdout.write(
        f"  casemanagement: {Resource.objects.filter(program=program).count()} resources, "
        f"{Referral.objects.count()} referrals, {Need.objects.count()} needs\n"
    )
