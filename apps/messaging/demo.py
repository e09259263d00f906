"""Demo messages: patient1 and clinician1 in a clinical thread with replies (one read, with
a receipt), and a scheduling question from patient2 waiting for a reply, which goes to the
program's front desk. The demo has no front-desk or billing person, so the demo admin holds
both functions. Idempotent: every thread and message has a stable client id, so reseeding
writes nothing new."""

from __future__ import annotations

import uuid
from typing import TextIO

from apps.accounts.models import User
from apps.messaging import services
from apps.messaging.models import Audience, Thread
from apps.programs.models import ProgramStaff

NAMESPACE = uuid.UUID("0b8f6d0e-5a55-4a9e-9d3e-6c1f4a1b2c77")


def _cid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


def seed(stdout: TextIO) -> None:
    clinician = User.objects.filter(email="clinician1@demo.test").first()
    p1 = User.objects.filter(email="patient1@demo.test").first()
    p2 = User.objects.filter(email="patient2@demo.test").first()
    if clinician is None or p1 is None or p2 is None:
        stdout.write("  messaging: demo people missing; threads skipped\n")
        return
    admin = User.objects.filter(email="admin@demo.test").first()
    program = getattr(getattr(p2, "patient_profile", None), "program", None)
    if admin is not None and program is not None:
        ProgramStaff.objects.update_or_create(
            program=program, user=admin, defaults={"front_desk": True, "billing": True}
        )
    thread, _created = services.thread_start(
        by=p1,
        audience=Audience.CLINICAL,
        subject="Question about the breathing homework",
        body="Hi, should I do the paced breathing **before** or **after** work? Mornings are rushed.",
        client_id=_cid("p1-clinical"),
    )
    services.message_post(
        author=clinician,
        thread_id=thread.pk,
        body="Good question. Try it before work, even for two minutes:\n\n- sit down\n"
        "- breathe in for 4, out for 6\n- log how you felt",
        client_id=_cid("p1-clinical", 1),
    )
    services.thread_read(thread=thread, user=p1)
    services.message_post(
        author=p1,
        thread_id=thread.pk,
        body="Thanks, I'll try that tomorrow and log it.",
        client_id=_cid("p1-clinical", 2),
    )
    services.thread_read(thread=thread, user=clinician)
    services.message_post(
        author=clinician,
        thread_id=thread.pk,
        body="Sounds good. We can look at the log together on Thursday.",
        client_id=_cid("p1-clinical", 3),
    )
    services.thread_start(
        by=p2,
        audience=Audience.SCHEDULING,
        subject="Missing Wednesday's group",
        body="I have a medical appointment on Wednesday evening. Can I join the morning group "
        "that day instead?",
        client_id=_cid("p2-scheduling"),
    )
    stdout.write(f"  messaging: {Thread.objects.count()} threads\n")
