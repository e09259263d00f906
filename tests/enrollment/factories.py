from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.enrollment import services
from apps.enrollment.models import Application, ConsentDocument, ConsentKind, Status

PHQ9_CALM = {f"q{n}": 1 for n in range(1, 9)} | {"q9": 0}
PHQ9_FLAGGED = {f"q{n}": 2 for n in range(1, 9)} | {"q9": 1}
GAD7_ANSWERS = {f"q{n}": 2 for n in range(1, 8)}
CSSRS_NONE = {"q1": 0, "q2": 0, "q6": 0}
AUDITC_ANSWERS = {"q1": 2, "q2": 1, "q3": 1, "sex": 0}
DAST_ANSWERS = {f"q{n}": 0 for n in range(1, 11)} | {"q3": 1}

DETAILS = {
    "phone": "(415) 555-0111",
    "date_of_birth": dt.date(1990, 5, 17),
    "state": "CA",
    "emergency_name": "Robin Contact",
    "emergency_phone": "(415) 555-0112",
    "emergency_relationship": "sister",
    "heard_from": "my therapist",
    "current_treatment": "weekly therapy",
    "reason": "Things have been getting harder.",
}


def consent_documents() -> list[ConsentDocument]:
    docs = []
    for kind, title, su_only in [
        (ConsentKind.TELEHEALTH, "Telehealth informed consent", False),
        (ConsentKind.TREATMENT, "Consent to treatment", False),
        (ConsentKind.GROUP, "Group confidentiality agreement", False),
        (ConsentKind.PART2, "42 CFR Part 2 consent", True),
    ]:
        doc, _ = ConsentDocument.objects.get_or_create(
            kind=kind,
            version=1,
            defaults={"title": title, "body": f"{title} text.", "substance_use_only": su_only},
        )
        docs.append(doc)
    return docs


def application_in(patient, program, status: str = Status.STARTED, **fields) -> Application:
    """An application row in ``status`` without walking the steps (for access tests)."""
    profile = patient.patient_profile
    profile.program = program
    profile.save(update_fields=["program"])
    return Application.objects.create(patient=patient, program=program, status=status, **fields)


def walk_to_submitted(patient, program, *, phq9=PHQ9_CALM) -> Application:
    """Through the real services: details, screening, consents, insurance, intake request."""
    consent_documents()
    app = services.application_start(patient=patient, program=program)
    services.application_details_save(application=app, by=patient, data=DETAILS)
    battery = {"phq9": phq9, "gad7": GAD7_ANSWERS, "cssrs": CSSRS_NONE}
    if program.is_substance_use:
        battery |= {"auditc": AUDITC_ANSWERS, "dast10": DAST_ANSWERS}
    for code, answers in battery.items():
        services.application_measure_submit(
            application=app, by=patient, instrument_code=code, answers=answers
        )
    from apps.enrollment.selectors import consents_outstanding

    for doc in consents_outstanding(patient=patient, program=program):
        services.consent_sign(
            patient=patient,
            document=doc,
            typed_name=patient.full_name,
            ip="127.0.0.1",
            user_agent="pytest",
            application=app,
        )
    services.insurance_save(application=app, by=patient, data={"self_pay": True})
    services.application_submit(
        application=app,
        by=patient,
        preferred_times=[timezone.now() + dt.timedelta(days=2)],
    )
    app.refresh_from_db()
    return app


def open_all_week(clinician) -> None:
    """Open hours every day, all day: tests pick any time."""
    from apps.scheduling.services import availability_set

    availability_set(
        clinician=clinician,
        by=clinician,
        windows=[(d, dt.time(0, 0), dt.time(23, 59)) for d in range(7)],
    )


def intake_time() -> dt.datetime:
    return (timezone.now() + dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def schedule_intake(app: Application, clinician) -> Application:
    """Book the intake through the service, in the clinician's (all-week) open hours."""
    open_all_week(clinician)
    services.application_schedule_intake(
        application=app, by=clinician, intake_at=intake_time(), clinician=clinician
    )
    app.refresh_from_db()
    return app


def hold_intake(app: Application) -> None:
    """Time passes: the booked intake took place an hour ago."""
    from apps.scheduling.models import Appointment

    ended = timezone.now() - dt.timedelta(hours=1)
    Appointment.objects.filter(patient=app.patient, kind="intake", status="booked").update(
        starts_at=ended - dt.timedelta(hours=1), ends_at=ended
    )


def walk_to_admitted(patient, program, clinician) -> Application:
    app = schedule_intake(walk_to_submitted(patient, program), clinician)
    hold_intake(app)
    services.application_admit(
        application=app,
        by=clinician,
        start_date=timezone.localdate() + dt.timedelta(days=7),
        primary_clinician=clinician,
    )
    app.refresh_from_db()
    return app
