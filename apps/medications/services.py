"""Writes: a clinician adds, edits and reconciles medications and records allergies; a patient
reports their own medications; the daily check-in stores the adherence answer. Each checks
who acts, validates (``ValidationError`` field -> message, nothing written) and audits.

A form's one-time ``client_id`` makes a double submit return the first row instead of adding
a second; the unique constraint settles two submits that race."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.medications import drugnames, selectors
from apps.medications.models import (
    Adherence,
    AdherenceAnswer,
    Allergy,
    AllergyKind,
    AllergyReview,
    Medication,
    Reconciliation,
    Route,
    Severity,
    Source,
    Status,
)

if TYPE_CHECKING:
    from apps.accounts.models import User

TEXT_LIMITS = {
    "name": 200,
    "dose": 60,
    "frequency": 80,
    "outside_prescriber": 120,
    "reason": 200,
    "substance": 120,
    "reaction": 200,
}


def _text(errors: dict[str, str], data: Mapping[str, Any], key: str, *, required: bool) -> str:
    raw = data.get(key)
    value = " ".join(str(raw or "").split())
    if "\x00" in value:
        errors[key] = _("Remove the unusual characters.")
        return ""
    if required and not value:
        errors[key] = _("This is required.")
    elif len(value) > TEXT_LIMITS[key]:
        errors[key] = _("Keep this under %(n)s characters.") % {"n": TEXT_LIMITS[key]}
    return value


def _choice(
    errors: dict[str, str], data: Mapping[str, Any], key: str, allowed: list[str], default: str
) -> str:
    value = str(data.get(key) or default)
    if value not in allowed:
        errors[key] = _("Choose one of the options.")
        return default
    return value


def _date(errors: dict[str, str], data: Mapping[str, Any], key: str) -> dt.date | None:
    raw = data.get(key)
    if raw in (None, ""):
        return None
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        errors[key] = _("Enter a date such as 2026-03-01.")
        return None


def _client_id(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def medication_validate(
    *, patient: User, data: Mapping[str, Any], by_clinician: bool
) -> dict[str, Any]:
    """Clean the fields of a medication. Patients give name, dose, route, frequency, who
    prescribes it (a name), when they started and why; clinicians also status, stop date and
    an in-house prescriber."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {
        "name": _text(errors, data, "name", required=True),
        "dose": _text(errors, data, "dose", required=False),
        "frequency": _text(errors, data, "frequency", required=False),
        "reason": _text(errors, data, "reason", required=False),
        "outside_prescriber": _text(errors, data, "outside_prescriber", required=False),
        "route": _choice(errors, data, "route", ["", *Route.values], ""),
        "start_date": _date(errors, data, "start_date"),
    }
    if by_clinician:
        cleaned["status"] = _choice(errors, data, "status", Status.values, Status.ACTIVE)
        cleaned["stop_date"] = _date(errors, data, "stop_date")
        raw_prescriber = str(data.get("prescriber") or "")
        cleaned["prescriber"] = None
        if raw_prescriber:
            prescriber = (
                selectors.prescribers_for(patient=patient)
                .filter(pk=int(raw_prescriber) if raw_prescriber.isdigit() else -1)
                .first()
            )
            if prescriber is None:
                errors["prescriber"] = _("Choose a clinician of this program.")
            cleaned["prescriber"] = prescriber
        if cleaned["prescriber"] is not None and cleaned["outside_prescriber"]:
            errors["outside_prescriber"] = _(
                "Give either a prescriber in this clinic or an outside one, not both."
            )
        start, stop = cleaned["start_date"], cleaned["stop_date"]
        if start and stop and stop < start:
            errors["stop_date"] = _("The stop date can't be before the start date.")
        if cleaned["status"] == Status.STOPPED and stop is None and "status" not in errors:
            cleaned["stop_date"] = timezone.localdate()
            if start and cleaned["stop_date"] < start:
                errors["stop_date"] = _("Give the date it was stopped.")
    today = timezone.localdate()
    if cleaned["start_date"] and cleaned["start_date"] > today + dt.timedelta(days=366):
        errors["start_date"] = _("Check the start date.")
    if errors:
        raise ValidationError(errors)
    cleaned["in_list"] = drugnames.lookup(cleaned["name"]) is not None
    if cleaned["in_list"]:
        cleaned["name"] = drugnames.lookup(cleaned["name"]) or cleaned["name"]
    return cleaned


def _existing(model: type[Any], client_id: uuid.UUID | None, patient: User) -> Any:
    if client_id is None:
        return None
    return model.objects.filter(client_id=client_id, patient=patient).first()


def _require_editor(by: User, patient: User) -> None:
    if not selectors.can_edit(viewer=by, patient=patient):
        raise PermissionError("only clinicians of the patient's program edit medications")


def _create(model: type[Any], client_id: uuid.UUID | None, **fields: Any) -> tuple[Any, bool]:
    """Create, or return the row a racing submit of the same form created first."""
    try:
        with transaction.atomic():
            return model.objects.create(client_id=client_id, **fields), True
    except IntegrityError:
        if client_id is None:
            raise
        return model.objects.get(client_id=client_id), False


@transaction.atomic
def medication_add(
    *, patient: User, by: User, data: Mapping[str, Any], client_id: Any = None
) -> tuple[Medication, bool]:
    """A clinician adds a medication (confirmed by them). Returns (row, created)."""
    _require_editor(by, patient)
    key = _client_id(client_id)
    existing = _existing(Medication, key, patient)
    if existing is not None:
        return existing, False
    cleaned = medication_validate(patient=patient, data=data, by_clinician=True)
    medication, created = _create(
        Medication,
        key,
        patient=patient,
        entered_by=by,
        source=Source.CLINICIAN,
        reconciliation=Reconciliation.CONFIRMED,
        reconciled_by=by,
        reconciled_at=timezone.now(),
        **cleaned,
    )
    if created:
        audit_record(
            actor=by, action=AuditAction.CREATE, obj=medication, patient=patient, detail="added"
        )
    return medication, created


@transaction.atomic
def medication_report(
    *, patient: User, data: Mapping[str, Any], client_id: Any = None
) -> tuple[Medication, bool]:
    """The patient reports a medication they take; it waits for a clinician to reconcile."""
    if not patient.is_authenticated or not patient.is_patient:
        raise PermissionError("only patients report their own medications")
    key = _client_id(client_id)
    existing = _existing(Medication, key, patient)
    if existing is not None:
        return existing, False
    cleaned = medication_validate(patient=patient, data=data, by_clinician=False)
    medication, created = _create(
        Medication,
        key,
        patient=patient,
        entered_by=patient,
        source=Source.PATIENT,
        status=Status.ACTIVE,
        reconciliation=Reconciliation.PENDING,
        **cleaned,
    )
    if created:
        audit_record(
            actor=patient,
            action=AuditAction.CREATE,
            obj=medication,
            patient=patient,
            detail="patient-reported",
        )
    return medication, created


@transaction.atomic
def medication_update(*, medication: Medication, by: User, data: Mapping[str, Any]) -> Medication:
    """A clinician edits a medication. Editing a patient-reported one that is still waiting
    reconciles it as "confirmed with changes", by them, now."""
    medication = Medication.objects.select_for_update().get(pk=medication.pk)
    _require_editor(by, medication.patient)
    cleaned = medication_validate(patient=medication.patient, data=data, by_clinician=True)
    for key, value in cleaned.items():
        setattr(medication, key, value)
    fields = [*cleaned, "updated_at"]
    detail = "edited"
    if medication.needs_review:
        medication.reconciliation = Reconciliation.EDITED
        medication.reconciled_by = by
        medication.reconciled_at = timezone.now()
        fields += ["reconciliation", "reconciled_by", "reconciled_at"]
        detail = "reconciled: edited"
    medication.full_clean(exclude=["patient", "entered_by", "client_id"])
    medication.save(update_fields=fields)
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=medication,
        patient=medication.patient,
        detail=detail,
    )
    return medication


@transaction.atomic
def medication_reconcile(*, medication: Medication, by: User, decision: str) -> Medication:
    """Confirm a patient-reported medication, or mark that the patient is not taking it
    (stopped today). Only a medication still waiting can be reconciled, so a second click
    changes nothing."""
    medication = Medication.objects.select_for_update().get(pk=medication.pk)
    _require_editor(by, medication.patient)
    if decision not in (Reconciliation.CONFIRMED, Reconciliation.NOT_TAKING):
        raise ValidationError({"decision": _("Choose confirm or not taking.")})
    if not medication.needs_review:
        raise ValidationError({"decision": _("This medication has already been reviewed.")})
    medication.reconciliation = decision
    medication.reconciled_by = by
    medication.reconciled_at = timezone.now()
    fields = ["reconciliation", "reconciled_by", "reconciled_at", "updated_at"]
    if decision == Reconciliation.NOT_TAKING:
        medication.status = Status.STOPPED
        today = timezone.localdate()
        if medication.stop_date is None:
            start = medication.start_date
            medication.stop_date = today if start is None or start <= today else start
        fields += ["status", "stop_date"]
    medication.save(update_fields=fields)
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=medication,
        patient=medication.patient,
        detail=f"reconciled: {decision}",
    )
    return medication


@transaction.atomic
def allergy_add(
    *, patient: User, by: User, data: Mapping[str, Any], client_id: Any = None
) -> tuple[Allergy, bool]:
    """A clinician records an allergy, or the patient reports their own (kept as
    patient-reported: ``recorded_by`` is the patient)."""
    if by.pk != patient.pk:
        _require_editor(by, patient)
    elif not by.is_patient:
        raise PermissionError("only the patient reports their own allergies")
    key = _client_id(client_id)
    existing = _existing(Allergy, key, patient)
    if existing is not None:
        return existing, False
    errors: dict[str, str] = {}
    cleaned = {
        "substance": _text(errors, data, "substance", required=True),
        "reaction": _text(errors, data, "reaction", required=False),
        "severity": _choice(errors, data, "severity", Severity.values, Severity.UNKNOWN),
        "kind": _choice(errors, data, "kind", AllergyKind.values, AllergyKind.ALLERGY),
    }
    if errors:
        raise ValidationError(errors)
    allergy, created = _create(Allergy, key, patient=patient, recorded_by=by, **cleaned)
    if created:
        audit_record(actor=by, action=AuditAction.CREATE, obj=allergy, patient=patient)
    return allergy, created


@transaction.atomic
def allergy_entered_in_error(*, allergy: Allergy, by: User) -> bool:
    """A clinician marks an allergy recorded by mistake: it leaves the list, stays on record."""
    _require_editor(by, allergy.patient)
    done = Allergy.objects.filter(pk=allergy.pk, entered_in_error_at__isnull=True).update(
        entered_in_error_at=timezone.now(), entered_in_error_by=by
    )
    if done:
        audit_record(
            actor=by,
            action=AuditAction.UPDATE,
            obj=allergy,
            patient=allergy.patient,
            detail="entered in error",
        )
    return bool(done)


@transaction.atomic
def allergy_none_known(*, patient: User, by: User) -> AllergyReview:
    """A clinician asked and found no known allergies. Refused while allergies are listed."""
    _require_editor(by, patient)
    if selectors.allergies_for(patient=patient).exists():
        raise ValidationError(
            {"__all__": _("Allergies are listed: mark any recorded in error first.")}
        )
    review, _created = AllergyReview.objects.update_or_create(
        patient=patient,
        defaults={"no_known_allergies": True, "reviewed_by": by, "reviewed_at": timezone.now()},
    )
    audit_record(actor=by, action=AuditAction.UPDATE, obj=review, patient=patient, detail="nka")
    return review


def adherence_save(*, patient: User, checkin: Any, answer: str) -> AdherenceAnswer:
    """Store the check-in's adherence answer (called inside the check-in's transaction; one
    per patient and day, a re-submitted check-in updates it)."""
    if answer not in Adherence.values:
        raise ValidationError({"medications_taken": _("Choose one of the answers.")})
    row, created = AdherenceAnswer.objects.update_or_create(
        patient=patient, day=checkin.day, defaults={"answer": answer, "checkin": checkin}
    )
    audit_record(
        actor=patient,
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        obj=row,
        patient=patient,
        detail="adherence",
    )
    return row
