"""Demo record: templates, a documentation policy, clinician2 under clinician1's supervision,
signed group notes for past sessions (the last two days are left as "notes due"; the last
five days of clinician2's wait for co-signature),
a signed individual note for patient1 and a draft. Signing goes through the real services
with the demo password. Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from django.utils import timezone

from apps.accounts.demo import DEMO_PASSWORD
from apps.accounts.models import User
from apps.charting import services
from apps.charting.loader import load_note_templates
from apps.charting.models import DocumentationPolicy, GroupNote, Note, Supervision
from apps.programs.models import Program
from apps.scheduling.models import Appointment, AppointmentStatus, Session, SessionStatus

PARTICIPATION = ["Active", "Moderate", "Active", "Minimal"]


def seed(stdout: TextIO) -> None:
    created = load_note_templates()
    program = Program.objects.filter(slug="adult-iop").first()
    if program is None:
        stdout.write("  charting: no adult-iop program, skipped\n")
        return
    DocumentationPolicy.objects.get_or_create(program=program)
    lead = User.objects.get(email="clinician1@demo.test")
    junior = User.objects.get(email="clinician2@demo.test")
    Supervision.objects.get_or_create(
        program=program, clinician=junior, active=True, defaults={"supervisor": lead}
    )
    now = timezone.now()
    sessions = (
        Session.objects.filter(
            group__program=program,
            ends_at__lt=now - dt.timedelta(days=2),
            group_note__isnull=True,
        )
        .exclude(status=SessionStatus.CANCELLED)
        .filter(attendance__isnull=False)
        .select_related("group")
        .distinct()
    )
    signed = 0
    for session in sessions:
        author = session.facilitator or session.group.facilitators.first()
        if author is None:
            continue
        group = services.group_note_start(session=session, by=author)
        parts = list(group.member_notes.all())
        if not parts:
            continue
        services.group_note_save_draft(
            group_note=group,
            by=author,
            shared={
                "topic": session.topic or session.group.name,
                "interventions": "Skills review, guided practice and process discussion.",
                "process": "Members engaged well; themes of stress at work and sleep.",
            },
            members={
                p.patient_id: {
                    "participation": PARTICIPATION[p.patient_id % 4],
                    "progress": "Practised the week's skill and named one trigger.",
                    "risk": "none",
                }
                for p in parts
            },
        )
        group = services.group_note_sign(
            group_note=group, by=author, typed_name=author.full_name, secret=DEMO_PASSWORD
        )
        signed += 1
        # Seeded history: signed the morning after each session, as a clinic on time would.
        on_time = {"signed_at": session.ends_at + dt.timedelta(hours=16), "is_late": False}
        GroupNote.objects.filter(pk=group.pk).update(**on_time)
        Note.objects.filter(group_note=group).update(**on_time)
        group.refresh_from_db()
        # The supervisor has caught up except for the last few days: some wait in "To co-sign".
        if group.cosigner is not None and session.ends_at < now - dt.timedelta(days=5):
            services.cosign(
                note=group,
                by=group.cosigner,
                typed_name=group.cosigner.full_name,
                secret=DEMO_PASSWORD,
            )
    patient1 = User.objects.filter(email="patient1@demo.test").first()
    visits = Appointment.objects.filter(
        program=program,
        patient=patient1,
        ends_at__lt=now,
        status__in=[AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED],
        notes__isnull=True,
    ).order_by("starts_at")
    visit = visits.first()
    if visit is not None and patient1 is not None:
        note = services.note_start_for_appointment(appointment=visit, by=visit.clinician)
        services.note_save_draft(
            note=note,
            by=visit.clinician,
            content={
                "data": "Reports better sleep; used paced breathing twice before work.",
                "assessment": "Mood improving; PHQ-9 down 4 points since admission.",
                "plan": "Continue the stress diary; review the safety plan next week.",
            },
            details={
                "service_date": note.service_date,
                "start_time": visit.starts_at.astimezone(program.time_zone).time(),
                "end_time": visit.ends_at.astimezone(program.time_zone).time(),
                "modality": "video",
                "location": note.location or "home",
                "place_of_service": note.place_of_service or "10",
                "risk": "none",
            },
        )
        services.note_sign(
            note=note,
            by=visit.clinician,
            typed_name=visit.clinician.full_name,
            secret=DEMO_PASSWORD,
        )
    stdout.write(
        f"  charting: {len(created)} templates loaded, {signed} group notes signed, "
        f"{Note.objects.count()} notes, {GroupNote.objects.count()} group notes\n"
    )
