"""Writes for measures: submit an instrument (validate, score, store, raise flags) and
acknowledge safety flags. Every entry point (patient forms, clinician-administered forms,
future check-ins) goes through ``measure_submit``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.measures.models import MeasureContext, MeasureResponse, SafetyFlag
from apps.measures.registry import Instrument, instrument_get
from apps.measures.scoring import AnswersInvalid, score
from apps.notifications.services import safety_alert_acknowledge, safety_alert_raise

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.programs.models import Program


@transaction.atomic
def measure_submit(
    *,
    patient: User,
    instrument: Instrument | str,
    answers: Mapping[str, object],
    context: str,
    ref: str = "",
    program: Program | None = None,
    entered_by: User | None = None,
    taken_at: datetime | None = None,
) -> MeasureResponse:
    """Validate, score and store one instrument; raise safety flags its rules call for.

    Raises ``AnswersInvalid`` (item key -> message) on incomplete or out-of-range answers and
    stores nothing. With a ``ref``, a repeat submit returns the stored response unchanged.
    """
    definition = instrument_get(instrument) if isinstance(instrument, str) else instrument
    if definition is None:
        raise AnswersInvalid({"__all__": _("Unknown instrument.")})
    if context not in MeasureContext.values:
        raise AnswersInvalid({"__all__": _("Unknown context.")})
    if ref:
        existing = MeasureResponse.objects.filter(
            patient=patient, instrument=definition.code, ref=ref
        ).first()
        if existing is not None:
            return existing
    result = score(definition, answers)
    if program is None:
        profile = getattr(patient, "patient_profile", None)
        program = profile.program if profile is not None else None
    try:
        with transaction.atomic():
            response = MeasureResponse.objects.create(
                patient=patient,
                program=program,
                instrument=definition.code,
                answers=result.answers,
                total=result.total,
                band=result.band,
                flags=[hit.code for hit in result.flags],
                context=context,
                ref=ref,
                entered_by=entered_by,
                taken_at=taken_at or timezone.now(),
            )
    except IntegrityError:
        # A concurrent duplicate submit with the same ref won the race: return its row.
        return MeasureResponse.objects.get(patient=patient, instrument=definition.code, ref=ref)
    audit_record(
        actor=entered_by or patient,
        action=AuditAction.CREATE,
        obj=response,
        patient=patient,
        detail=f"{definition.code} {context}",
    )
    for hit in result.flags:
        safety_flag_raise(
            patient=patient,
            program=program,
            severity=hit.severity,
            source=hit.code,
            reason=hit.reason,
            response=response,
        )
    return response


def flag_event_key(flag: SafetyFlag) -> str:
    return f"measures.safetyflag:{flag.pk}"


def safety_flag_alert(flag: SafetyFlag, *, raised_at: datetime | None = None) -> int:
    """Alert the patient's clinician at once (their primary clinician, else the program's
    clinicians; e-mail + in-app) with the on-call escalation 30 minutes later unless it is
    acknowledged, in the caller's transaction so the alert and the flag commit together.
    The one way a flag's alert is built: on raising, and by the planner's safety net
    (measures/reminders.py). The message carries ids only; no clinical content."""
    rows = safety_alert_raise(
        event_key=flag_event_key(flag),
        patient=flag.patient,
        context={
            "flag_id": flag.pk,
            "program_id": flag.program_id,
            "link": reverse("measures:flag_detail", kwargs={"flag_id": flag.pk}),
            "urgent": flag.severity == "urgent",
        },
        raised_at=raised_at,
    )
    return len(rows)


def _stop_escalation(flag: SafetyFlag) -> None:
    safety_alert_acknowledge(event_key=flag_event_key(flag))


@transaction.atomic
def safety_flag_raise(
    *,
    patient: User,
    program: Program | None,
    severity: str,
    source: str,
    reason: str,
    response: MeasureResponse | None = None,
) -> SafetyFlag:
    flag = SafetyFlag.objects.create(
        patient=patient,
        program=program,
        response=response,
        severity=severity,
        source=source[:40],
        reason=reason[:200],
        opened_at=timezone.now(),
    )
    audit_record(
        actor=None, action=AuditAction.CREATE, obj=flag, patient=patient, detail=f"flag {source}"
    )
    safety_flag_alert(flag)
    return flag


@transaction.atomic
def safety_flag_acknowledge(*, flag: SafetyFlag, by: User, note: str) -> SafetyFlag:
    """Close a flag with a note. Precondition: ``by`` may see the flag (selectors)."""
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": _("Write a note: what was done to follow up.")})
    if len(note) > 4000:
        raise ValidationError({"note": _("Keep the note under 4,000 characters.")})
    now = timezone.now()
    # Claim it with a conditional update: two clinicians acknowledging at once, one wins.
    claimed = SafetyFlag.objects.filter(pk=flag.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=by, acknowledgement_note=note
    )
    if not claimed:
        raise ValidationError({"note": _("This flag was already acknowledged.")})
    flag.refresh_from_db()
    _stop_escalation(flag)
    audit_record(
        actor=by, action=AuditAction.UPDATE, obj=flag, patient=flag.patient, detail="acknowledged"
    )
    return flag
