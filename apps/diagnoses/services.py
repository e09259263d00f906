"""Writes to a patient's diagnoses and level-of-care justification. Each public service
checks the code against the CMS code set (with the library, never the client's word),
serialises writes per patient (a row lock on the patient) so "one active primary" holds
under double submits as well as by the database constraint, and audits.

A diagnosis is never deleted once something may rest on it: it is resolved instead, and
its row history keeps every change. Only one entered in error, that no other app reports
as used (``register_usage_check``: billing's claims, charting's notes), may be removed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.diagnoses import codes
from apps.diagnoses.models import Diagnosis, DiagnosisStatus, LevelOfCareJustification, Rank

if TYPE_CHECKING:
    from apps.diagnoses.codes import Code


class DiagnosisError(ValidationError):
    pass


# Apps above (billing, charting) say whether a diagnosis is used, so this app knows none.
_usage_checks: list[Callable[[Diagnosis], bool]] = []


def register_usage_check(check: Callable[[Diagnosis], bool]) -> None:
    if check not in _usage_checks:
        _usage_checks.append(check)


def diagnosis_is_used(diagnosis: Diagnosis) -> bool:
    return any(check(diagnosis) for check in _usage_checks)


def diagnosis_removable(*, diagnosis: Diagnosis, by: User) -> bool:
    """Entered in error: its author, the day it was entered, while it is active and nothing
    uses it. After that day a claim or a note may rest on it, so it is resolved instead."""
    return (
        diagnosis.is_active
        and diagnosis.added_by_id == by.pk
        and timezone.localdate(diagnosis.added_at) == timezone.localdate()
        and not diagnosis_is_used(diagnosis)
    )


def _lock_patient(patient: User) -> None:
    User.objects.select_for_update().filter(pk=patient.pk).first()


def _check_dates(*, onset: dt.date | None, resolved: dt.date | None, today: dt.date) -> None:
    if onset is not None and onset > today:
        raise DiagnosisError({"onset_date": _("The onset date can't be in the future.")})
    if resolved is not None:
        if resolved > today:
            raise DiagnosisError({"resolved_date": _("The resolved date can't be in the future.")})
        if onset is not None and resolved < onset:
            raise DiagnosisError(
                {"resolved_date": _("The resolved date can't be before the onset date.")}
            )


def code_check(raw: str) -> Code:
    """The billable code ``raw`` names, or a DiagnosisError saying why not."""
    found = codes.billable_code(raw)
    if found is not None:
        return found
    known = codes.describe(raw)
    if known is not None:
        raise DiagnosisError(
            {
                "code": _(
                    "%(code)s is a category, not a billable code: choose one of the more "
                    "specific codes under it."
                )
                % {"code": known.code}
            }
        )
    raise DiagnosisError({"code": _("That is not an ICD-10-CM code. Search and pick one.")})


def _demote_primary(*, patient: User, by: User, keep: Diagnosis | None = None) -> None:
    others = Diagnosis.objects.filter(
        patient=patient, status=DiagnosisStatus.ACTIVE, rank=Rank.PRIMARY
    )
    if keep is not None:
        others = others.exclude(pk=keep.pk)
    current = others.first()
    if current is not None:
        current.rank = Rank.SECONDARY
        current.save(update_fields=["rank", "updated_at"])
        audit_record(
            actor=by,
            action=AuditAction.UPDATE,
            obj=current,
            patient=patient,
            detail="rank secondary",
        )


@transaction.atomic
def diagnosis_add(
    *,
    patient: User,
    by: User,
    code: str,
    rank: str,
    onset_date: dt.date | None = None,
    note: str = "",
) -> Diagnosis:
    """Add an active diagnosis. A new primary makes the current primary secondary (one
    principal diagnosis per claim). The caller has checked ``by`` may write for ``patient``."""
    found = code_check(code)
    if rank not in Rank.values:
        raise DiagnosisError({"rank": _("Choose primary or secondary.")})
    _check_dates(onset=onset_date, resolved=None, today=timezone.localdate())
    _lock_patient(patient)
    if Diagnosis.objects.filter(
        patient=patient, code=found.code, status=DiagnosisStatus.ACTIVE
    ).exists():
        raise DiagnosisError(
            {"code": _("%(code)s is already on the active list.") % {"code": found.code}}
        )
    if rank == Rank.PRIMARY:
        _demote_primary(patient=patient, by=by)
    try:
        with transaction.atomic():
            diagnosis = Diagnosis.objects.create(
                patient=patient,
                code=found.code,
                description=found.description[:255],
                rank=rank,
                onset_date=onset_date,
                note=note.strip(),
                added_by=by,
            )
    except IntegrityError as exc:  # a constraint the lock should have made unreachable
        raise DiagnosisError(_("The diagnoses changed meanwhile. Please try again.")) from exc
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=diagnosis, patient=patient, detail=f"rank {rank}"
    )
    return diagnosis


@transaction.atomic
def diagnosis_update(
    *,
    diagnosis: Diagnosis,
    by: User,
    rank: str,
    onset_date: dt.date | None,
    note: str,
) -> Diagnosis:
    """Change an active diagnosis's rank, onset or note (the code is fixed: a different code
    is a new diagnosis, and the old one is resolved)."""
    patient = diagnosis.patient
    _lock_patient(patient)
    diagnosis.refresh_from_db()
    if not diagnosis.is_active:
        raise DiagnosisError(_("A resolved diagnosis can't be changed."))
    if rank not in Rank.values:
        raise DiagnosisError({"rank": _("Choose primary or secondary.")})
    _check_dates(onset=onset_date, resolved=None, today=timezone.localdate())
    if rank == Rank.PRIMARY and diagnosis.rank != Rank.PRIMARY:
        _demote_primary(patient=patient, by=by, keep=diagnosis)
    changed = [
        name
        for name, value in (("rank", rank), ("onset_date", onset_date), ("note", note.strip()))
        if getattr(diagnosis, name) != value
    ]
    if not changed:
        return diagnosis
    diagnosis.rank = rank
    diagnosis.onset_date = onset_date
    diagnosis.note = note.strip()
    diagnosis.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=diagnosis,
        patient=patient,
        detail="changed " + ", ".join(changed),
    )
    return diagnosis


@transaction.atomic
def diagnosis_resolve(*, diagnosis: Diagnosis, by: User, resolved_date: dt.date) -> Diagnosis:
    """Mark an active diagnosis resolved on ``resolved_date``. A resolved primary keeps its
    rank in the history; the page then asks for a new primary."""
    _lock_patient(diagnosis.patient)
    diagnosis.refresh_from_db()
    if not diagnosis.is_active:
        raise DiagnosisError(_("This diagnosis is already resolved."))
    _check_dates(onset=diagnosis.onset_date, resolved=resolved_date, today=timezone.localdate())
    diagnosis.status = DiagnosisStatus.RESOLVED
    diagnosis.resolved_date = resolved_date
    diagnosis.resolved_by = by
    diagnosis.save(update_fields=["status", "resolved_date", "resolved_by", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=diagnosis,
        patient=diagnosis.patient,
        detail="active -> resolved",
    )
    return diagnosis


@transaction.atomic
def diagnosis_remove_entered_in_error(*, diagnosis: Diagnosis, by: User) -> None:
    """Remove a diagnosis entered in error, only while nothing uses it (its row history
    still records that it existed and who removed it)."""
    _lock_patient(diagnosis.patient)
    diagnosis.refresh_from_db()
    if not diagnosis_removable(diagnosis=diagnosis, by=by):
        raise DiagnosisError(
            _("Only a diagnosis you entered today by mistake can be removed: resolve it instead.")
        )
    patient, pk = diagnosis.patient, diagnosis.pk
    try:
        with transaction.atomic():
            diagnosis.delete()
    except ProtectedError as exc:
        raise DiagnosisError(
            _("This diagnosis is used in the record: resolve it instead.")
        ) from exc
    audit_record(
        actor=by,
        action=AuditAction.DELETE,
        object_type="diagnoses.diagnosis",
        object_id=pk,
        patient=patient,
        detail="entered in error",
    )


@transaction.atomic
def level_of_care_record(
    *, patient: User, by: User, text: str, effective_date: dt.date
) -> LevelOfCareJustification:
    text = text.strip()
    if not text:
        raise DiagnosisError({"text": _("Write the justification.")})
    if effective_date > timezone.localdate():
        raise DiagnosisError({"effective_date": _("The date can't be in the future.")})
    record = LevelOfCareJustification.objects.create(
        patient=patient, text=text, effective_date=effective_date, author=by
    )
    audit_record(actor=by, action=AuditAction.CREATE, obj=record, patient=patient)
    return record
