"""Writes for measurement-based care: save a daily check-in (one per local day; a second
edits the first), submit a due repeated measure through measures' own ``measure_submit``, and
raise safety flags for check-in answers through measures' ``safety_flag_raise``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Role, User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.measures.models import MeasureResponse, SafetyFlag
from apps.measures.scoring import AnswersInvalid
from apps.measures.services import measure_submit, safety_flag_raise
from apps.notifications.models import Kind, Outbox
from apps.notifications.services import notification_schedule
from apps.progress import selectors
from apps.progress.forms import CheckInForm
from apps.progress.models import DailyCheckIn
from apps.rooms.services import risk_phrase_match


@dataclass(frozen=True)
class CheckInRule:
    """A check-in answer that needs a clinician's eyes the same day. Raised as a measures
    ``SafetyFlag`` so it joins the same queue, alerts and acknowledgement as intake flags."""

    code: str
    severity: str
    reason: str


# Lowest mood on the 0-10 scale, or any use reported in a substance-use program.
LOW_MOOD_AT_MOST = 1


def checkin_rules_hit(checkin: DailyCheckIn) -> list[CheckInRule]:
    hits = []
    if checkin.mood <= LOW_MOOD_AT_MOST:
        hits.append(
            CheckInRule("checkin_low_mood", "moderate", "Very low mood reported in daily check-in")
        )
    if checkin.used_since_last:
        hits.append(
            CheckInRule("checkin_use", "moderate", "Substance use reported in daily check-in")
        )
    # The check-in's free text is scanned with the same risk phrases as group chat and
    # secure messages (rooms.services.risk_phrase_match); the reason names no phrase or text.
    free_text = " ".join(t for t in (checkin.note, checkin.used_what) if t)
    if free_text and risk_phrase_match(free_text):
        hits.append(
            CheckInRule("checkin_note_risk", "high", "Crisis phrase in a daily check-in note")
        )
    return hits


class CheckInInvalid(ValidationError):
    """The check-in did not validate; nothing was written. ``form`` holds the errors, field
    by field, for the page to show."""

    def __init__(self, form: CheckInForm) -> None:
        super().__init__(form.errors.as_data())
        self.form = form


@transaction.atomic
def checkin_save(
    *, patient: User, data: Mapping[str, Any], now: dt.datetime | None = None
) -> tuple[DailyCheckIn, bool, list[SafetyFlag]]:
    """Create today's (or a recent day's) check-in from raw answers, or edit it if one exists
    for that day. ``CheckInForm`` validates them (the patient's own time zone decides what
    "today" is); bad input raises ``CheckInInvalid`` and changes nothing.

    Returns (check-in, created, flags raised). Refuses non-patients. The (patient, day)
    unique constraint settles two simultaneous first submits: the loser updates the
    winner's row instead."""
    if not patient.is_authenticated or not patient.is_patient:
        raise ValidationError({"__all__": _("Only patients check in.")})
    form = CheckInForm(data, patient=patient, now=now)
    if not form.is_valid():
        raise CheckInInvalid(form)
    day = form.cleaned_data["day"]
    fields = form.checkin_values()
    program = selectors.patient_program(patient)
    existing = DailyCheckIn.objects.select_for_update().filter(patient=patient, day=day).first()
    created = existing is None
    if existing is None:
        try:
            with transaction.atomic():
                checkin = DailyCheckIn.objects.create(
                    patient=patient, program=program, day=day, **fields
                )
        except IntegrityError:
            created = False
            existing = DailyCheckIn.objects.select_for_update().get(patient=patient, day=day)
    if existing is not None:
        checkin = existing
        for key, value in fields.items():
            setattr(checkin, key, value)
        checkin.save(update_fields=[*fields, "updated_at"])
    audit_record(
        actor=patient,
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        obj=checkin,
        patient=patient,
        detail="daily check-in",
    )
    # Answers to other apps' questions are theirs to store, in this transaction.
    for question in form.questions:
        question.save(patient=patient, checkin=checkin, answer=form.cleaned_data[question.key])
    return checkin, created, _raise_checkin_flags(checkin, program)


def _raise_checkin_flags(checkin: DailyCheckIn, program: Any) -> list[SafetyFlag]:
    raised = []
    for hit in checkin_rules_hit(checkin):
        # Editing the same day's check-in does not raise the same flag twice.
        day_start = dt.datetime.combine(
            checkin.day, dt.time.min, tzinfo=selectors.patient_zone(checkin.patient)
        )
        if SafetyFlag.objects.filter(
            patient=checkin.patient, source=hit.code, opened_at__gte=day_start
        ).exists():
            continue
        raised.append(
            safety_flag_raise(
                patient=checkin.patient,
                program=program,
                severity=hit.severity,
                source=hit.code,
                reason=hit.reason,
            )
        )
    return raised


def repeat_measure_submit(
    *, patient: User, code: str, answers: Mapping[str, object], now: dt.datetime | None = None
) -> MeasureResponse:
    """Submit a measure that is due for ``patient`` now, through measures' ``measure_submit``
    (validation, scoring, safety flags and audit all happen there). The due round's ``ref``
    makes a double submit return the first response instead of adding another."""
    due = next(
        (d for d in selectors.measures_due(patient=patient, now=now) if d.code == code), None
    )
    if due is None:
        # Already done (a double submit lands here after the first one committed).
        existing = (
            MeasureResponse.objects.filter(patient=patient, instrument=code)
            .exclude(ref="")
            .filter(ref__startswith="progress:")
            .order_by("-taken_at")
            .first()
        )
        if existing is not None and (timezone.now() - existing.taken_at).days < 1:
            return existing
        raise AnswersInvalid({"__all__": _("This questionnaire is not due for you now.")})
    return measure_submit(
        patient=patient,
        instrument=due.instrument,
        answers=answers,
        context=due.context,
        ref=due.ref,
        program=selectors.patient_program(patient),
    )


# --- reminders -----------------------------------------------------------------------------
MEASURE_DUE_PREFIX = "progress.measuredue:"


def measure_due_event_key(*, patient_id: int, due_on: dt.date) -> str:
    return f"{MEASURE_DUE_PREFIX}{patient_id}@{due_on.isoformat()}"


def measure_reminders_plan(*, now: dt.datetime | None = None) -> int:
    """Queue one reminder per patient and due round of repeated measures, through the
    notifications outbox (which renders the text, honours preferences and quiet hours, and
    deduplicates). The message carries a link only, never the instrument's name or a score.

    Idempotent: a round that already has an outbox row (sent, pending or cancelled) is left
    alone, so a reminder is sent once. ``measure_due_guard`` cancels it at send time if the
    patient has done the measures by then."""
    now = now or timezone.now()
    queued = 0
    patients = User.objects.filter(
        role=Role.PATIENT, is_active=True, patient_profile__program__isnull=False
    ).select_related("patient_profile__program")
    for patient in patients.iterator(chunk_size=200):
        due = selectors.measures_due(patient=patient, now=now)
        if not due:
            continue
        key = measure_due_event_key(patient_id=patient.pk, due_on=due[0].due_on)
        if Outbox.objects.filter(recipient_id=patient.pk, event_key=key).exists():
            continue
        with transaction.atomic():
            rows = notification_schedule(
                recipient=patient,
                kind=Kind.GENERAL,
                event_key=key,
                context={"link": reverse("progress:mine")},
                due_at=now,
            )
        queued += len(rows)
    return queued


def measure_due_guard(row: Any) -> str | None:
    """Send-time check for measure reminders: skip when nothing from that round is still due.
    Reads only."""
    key = row.event_key[len(MEASURE_DUE_PREFIX) :]
    try:
        patient_id, day = key.split("@", 1)
        due_on = dt.date.fromisoformat(day)
        int(patient_id)
    except ValueError:
        return None
    if str(row.recipient_id) != patient_id:
        return "recipient does not match"
    due = selectors.measures_due(patient=row.recipient)
    if not any(d.due_on == due_on for d in due):
        return "measures already done"
    return None
