"""A realistic clinic for whole-site browser walks (the CSP and accessibility checks): one
admitted patient with every kind of record a page shows, and the list of pages each role
can open."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from django.contrib import admin as django_admin
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule

from apps.core.nav import links_for
from apps.enrollment import services as enrollment
from apps.enrollment.models import ConsentSignature
from apps.measures.models import MeasureResponse
from apps.measures.services import safety_flag_raise
from apps.notifications.models import Kind, Notification
from tests.enrollment.factories import walk_to_admitted
from tests.factories import clinician_in
from tests.homework.factories import assign, shipped_modules
from tests.progress.factories import checkin, score
from tests.rooms.factories import make_session


def build_world(program: Any, clinician: Any, patient: Any) -> SimpleNamespace:
    """A patient admitted two weeks ago with every kind of record a main page shows, and a
    clinician who has not set up MFA yet."""
    application = walk_to_admitted(patient, program, clinician)
    application.start_date = timezone.localdate() - dt.timedelta(days=14)
    application.save(update_fields=["start_date"])
    enrollment.treatment_plan_save(
        patient=patient,
        program=program,
        by=clinician,
        problems="Sleep and mood",
        interventions="CBT skills group",
        review_date=dt.date(2030, 1, 1),
        goals=[{"goal": "Sleep better", "objective": "7 h", "target_date": dt.date(2030, 1, 1)}],
    )
    enrollment.safety_plan_save(
        patient=patient, by=clinician, data={"warning_signs": "Not sleeping"}
    )
    # The intake screening was two weeks before admission; this fortnight's PHQ-9 is due.
    MeasureResponse.objects.filter(patient=patient).update(
        taken_at=timezone.now() - dt.timedelta(days=16)
    )
    for days_ago, total in ((13, 16), (9, 11), (5, 8)):
        score(patient, "phq9", total, days_ago=days_ago)
        score(patient, "gad7", total - 2, days_ago=days_ago)
    checkin(patient, days_ago=1)
    flag = safety_flag_raise(
        patient=patient, program=program, severity="high", source="phq9_item9", reason="test"
    )
    modules = shipped_modules()
    assignment = assign(clinician, patient, modules["urge-surfing"])
    session = make_session(program, [clinician], [patient])
    Notification.objects.create(
        recipient=patient, kind=Kind.GENERAL, title="Welcome", body="Hello", link="/"
    )
    newcomer = clinician_in(program, mfa=False, email="newcomer@example.test")
    crontab = CrontabSchedule.objects.create(minute="0", hour="9")
    return SimpleNamespace(
        newcomer=newcomer,
        crontab=crontab,
        application=application,
        assignment=assignment,
        session=session,
        group=session.group,
        flag=flag,
        signature=ConsentSignature.objects.filter(patient=patient).first(),
    )


def nav_pages(role: str) -> list[str]:
    """Every link of the role's main navigation."""
    return [link["href"] for link in links_for(role)]


def patient_pages(w: Any) -> list[str]:
    return [
        *nav_pages("patient"),
        "/enrollment/consents/",
        f"/enrollment/signatures/{w.signature.pk}/",
        "/enrollment/treatment-plan/",
        "/enrollment/safety-plan/",
        "/schedule/appointments/request/",
        "/schedule/calendar/",
        f"/homework/a/{w.assignment.pk}/",
        "/progress/check-in/",
        "/progress/measures/phq9/",
        "/notifications/",
        "/notifications/preferences/",
        "/accounts/profile/",
        "/accounts/email/",
        "/accounts/password/change/",
        f"/rooms/{w.session.pk}/",
    ]


def clinician_pages(w: Any, patient: Any, program: Any) -> list[str]:
    return [
        *nav_pages("clinician"),
        f"/enrollment/applications/{w.application.pk}/",
        f"/enrollment/applications/{w.application.pk}/discharge/",
        "/schedule/groups/new/",
        f"/schedule/groups/{w.group.pk}/",
        f"/schedule/groups/{w.group.pk}/edit/",
        f"/schedule/sessions/{w.session.pk}/",
        f"/schedule/programs/{program.pk}/week/",
        f"/schedule/programs/{program.pk}/hours/",
        "/schedule/availability/",
        "/schedule/appointments/new/",
        f"/homework/review/patients/{patient.pk}/",
        f"/homework/review/groups/{w.group.pk}/",
        f"/homework/review/a/{w.assignment.pk}/",
        f"/progress/patients/{patient.pk}/",
        f"/progress/patients/{patient.pk}/summary/",
        f"/measures/flags/{w.flag.pk}/",
        "/notifications/",
        "/accounts/2fa/",
        f"/rooms/{w.session.pk}/",
    ]


def admin_pages() -> list[str]:
    """Every model's changelist, and the change form of its first row."""
    pages = [*nav_pages("admin"), "/accounts/2fa/"]
    for model in sorted(django_admin.site._registry, key=lambda m: m._meta.label):
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            )
    pages.append(reverse("admin:django_celery_beat_periodictask_add"))
    return pages


def build_clinical_records(w: SimpleNamespace, program: Any, clinician: Any, patient: Any) -> None:
    """Add to ``w`` a record of each kind the charting, billing, messaging, case-management,
    medications, diagnoses and releases pages show: a note draft, a signed note, a signed
    and a draft group note on held sessions, a thread, a referral with a task, medications and an
    allergy, diagnoses, a signed release with a logged disclosure."""
    import uuid

    from apps.casemanagement import services as casemanagement
    from apps.casemanagement.models import Resource, ResourceKind
    from apps.charting import selectors as charting_selectors
    from apps.charting import services as charting
    from apps.charting.loader import load_note_templates
    from apps.diagnoses import services as diagnoses
    from apps.diagnoses.models import Rank
    from apps.disclosures.services import disclosure_record
    from apps.medications import services as medications
    from apps.messaging import services as messaging
    from apps.scheduling.models import Appointment
    from tests.billing.conftest import attend, document
    from tests.factories import PASSWORD

    load_note_templates()
    ended = timezone.now() - dt.timedelta(hours=20)
    w.visit = Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=ended - dt.timedelta(minutes=53),
        ends_at=ended,
        status="completed",
    )
    signed = charting.note_start_for_appointment(appointment=w.visit, by=clinician)
    signed.content = {"data": "Slept better.", "assessment": "Improving.", "plan": "Diary."}
    signed.save(update_fields=["content"])
    w.signed_note = charting.note_sign(
        note=signed, by=clinician, typed_name=clinician.full_name, secret=PASSWORD
    )
    template = charting_selectors.template_default_for("individual")
    w.draft_note = charting.note_start(patient=patient, by=clinician, template=template)
    held = make_session(
        program, [clinician], [patient], starts_in=-dt.timedelta(days=1), status="completed"
    )
    attend(held, patient, minutes=60)
    w.held_session = held
    w.group_note = document(held, clinician)
    draft_held = make_session(
        program, [clinician], [patient], starts_in=-dt.timedelta(days=2), status="completed"
    )
    attend(draft_held, patient, minutes=60)
    w.draft_group_session = draft_held
    document(draft_held, clinician, sign=False)
    w.future_visit = Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="family",
        starts_at=timezone.now() + dt.timedelta(days=2),
        ends_at=timezone.now() + dt.timedelta(days=2, minutes=50),
    )

    w.thread, _ = messaging.thread_start(
        by=patient,
        audience="clinical",
        subject="Side effects",
        body="Since Monday I feel dizzy.",
        client_id=str(uuid.uuid4()),
    )
    messaging.message_post(
        author=clinician, thread_id=w.thread.pk, body="Please call us.", client_id=uuid.uuid4()
    )

    resource = Resource.objects.create(
        program=program,
        kind=ResourceKind.OUTPATIENT_THERAPIST,
        name="Harbor Light Counseling",
        phone="(555) 010-2101",
        areas_served="Oakland, Berkeley",
    )
    w.referral = casemanagement.referral_create(
        patient=patient, by=clinician, resource=resource, reason="Weekly therapy after IOP."
    )
    need = casemanagement.need_create(
        patient=patient, by=clinician, domain="housing", description="Stable housing."
    )
    casemanagement.task_create(need=need, by=clinician, title="Gather pay stubs", assignee=patient)

    medications.medication_add(
        patient=patient,
        by=clinician,
        data={"name": "Sertraline", "dose": "50 mg", "frequency": "once a day"},
    )
    medications.medication_report(patient=patient, data={"name": "Melatonin", "dose": "3 mg"})
    medications.allergy_add(
        patient=patient, by=clinician, data={"substance": "Penicillin", "severity": "severe"}
    )

    w.diagnosis = diagnoses.diagnosis_add(
        patient=patient, by=clinician, code="F33.1", rank=Rank.PRIMARY
    )
    diagnoses.diagnosis_add(patient=patient, by=clinician, code="F41.1", rank=Rank.SECONDARY)

    release = enrollment.release_create(
        by=patient,
        patient=patient,
        recipient_kind="family",
        recipient_name="Maya Member",
        recipient_relationship="sister",
        items=["attendance"],
        purpose="Family sessions",
        expiry_event="when I complete the program",
    )
    w.release = enrollment.release_sign(
        patient=patient, release=release, typed_name=patient.full_name, ip=None, user_agent="t"
    )
    disclosure_record(
        by=clinician, release=w.release, kind="verbal", description="Attendance dates."
    )


def patient_clinical_pages(w: Any) -> list[str]:
    """The patient's pages of the newer apps (beyond their navigation links)."""
    return [
        "/crisis/",
        "/crisis/saved/",
        "/messages/new/",
        f"/messages/{w.thread.pk}/",
        "/enrollment/releases/new/",
        f"/enrollment/releases/{w.release.pk}/",
        f"/enrollment/revoke/release/{w.release.pk}/",
        f"/charting/notes/{w.signed_note.pk}/",
        f"/video/visit/{w.future_visit.pk}/",
    ]


def clinician_clinical_pages(w: Any, patient: Any) -> list[str]:
    """The clinician's pages of the newer apps (beyond their navigation links)."""
    p = patient.pk
    return [
        f"/charting/notes/{w.draft_note.pk}/",
        f"/charting/notes/{w.signed_note.pk}/",
        f"/charting/sessions/{w.held_session.pk}/note/",
        f"/charting/sessions/{w.draft_group_session.pk}/note/",
        f"/charting/patients/{p}/psychotherapy/",
        "/messages/new/",
        f"/messages/{w.thread.pk}/",
        "/case-management/resources/",
        f"/case-management/patients/{p}/",
        f"/case-management/patients/{p}/referrals/new/",
        f"/case-management/referrals/{w.referral.pk}/",
        f"/medications/patients/{p}/",
        f"/diagnoses/patients/{p}/",
        f"/disclosures/patients/{p}/new/",
        f"/enrollment/patients/{p}/consents/",
        f"/enrollment/patients/{p}/releases/new/",
        f"/enrollment/patients/{p}/treatment-plan/",
        f"/enrollment/patients/{p}/safety-plan/",
        f"/video/visit/{w.future_visit.pk}/",
    ]
