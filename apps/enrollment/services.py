"""Writes for enrollment. Every status change goes through ``application_transition``: the
allowed transitions are enforced there, an illegal one is refused and audited, and a
transition with its side effects is applied whole or not at all."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from PIL import Image, UnidentifiedImageError

from apps.accounts.http import is_staff
from apps.accounts.models import Role
from apps.accounts.selectors import clinicians_to_alert
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.enrollment import selectors
from apps.enrollment.models import (
    PART2_NOTICE,
    TRANSITIONS,
    Application,
    ConsentDocument,
    ConsentSignature,
    Discharge,
    DisclosureItem,
    Insurance,
    RecipientKind,
    ReleaseOfInformation,
    Revocation,
    SafetyPlan,
    Status,
    Transition,
    TreatmentGoal,
    TreatmentPlan,
    private_storage,
)
from apps.measures.models import MeasureContext, MeasureResponse
from apps.measures.registry import instrument_get
from apps.measures.scoring import AnswersInvalid
from apps.measures.services import measure_submit
from apps.notifications.models import Kind
from apps.notifications.models import Kind as NotificationKind
from apps.notifications.services import notification_schedule
from apps.programs.selectors import programs_for_staff
from apps.scheduling import services as scheduling_services
from apps.scheduling.models import AppointmentKind, AppointmentStatus

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.programs.models import Program

MAX_CARD_BYTES = 10 * 1024 * 1024
CARD_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class TransitionRefused(Exception):
    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"{from_status} -> {to_status} is not allowed")
        self.from_status = from_status
        self.to_status = to_status


def _normalise_name(name: str) -> str:
    return " ".join((name or "").split()).casefold()


def _require_staff_for(*, by: User, application: Application) -> None:
    if not is_staff(by) or not (
        programs_for_staff(user=by).filter(pk=application.program_id).exists()
    ):
        raise PermissionError("not staff of this program")


def _require_patient(*, by: User, application: Application) -> None:
    if by.pk != application.patient_id:
        raise PermissionError("not this application's patient")


# --- the state machine -------------------------------------------------------------------
def application_transition(
    *,
    application: Application,
    to: str,
    by: User | None,
    note: str = "",
    changes: Mapping[str, Any] | None = None,
    then: Callable[[Application], None] | None = None,
) -> Application:
    """Move ``application`` to ``to``, setting ``changes`` and running ``then`` in the same
    transaction (under a row lock). Raises ``TransitionRefused`` (after auditing the attempt)
    when the move is not in ``TRANSITIONS``; nothing is changed then."""
    try:
        with transaction.atomic():
            locked = Application.objects.select_for_update().get(pk=application.pk)
            from_status = locked.status
            if to not in TRANSITIONS.get(from_status, frozenset()):
                raise TransitionRefused(from_status, to)
            now = timezone.now()
            fields = ["status", "status_changed_at"]
            locked.status = to
            locked.status_changed_at = now
            for name, value in (changes or {}).items():
                setattr(locked, name, value)
                fields.append(name)
            locked.save(update_fields=fields)
            Transition.objects.create(
                application=locked,
                from_status=from_status,
                to_status=to,
                by=by,
                at=now,
                note=note[:300],
            )
            audit_record(
                actor=by,
                action=AuditAction.TRANSITION,
                obj=locked,
                patient=locked.patient,
                detail=f"state: {from_status} -> {to}",
            )
            if then is not None:
                then(locked)
    except TransitionRefused as exc:
        audit_record(
            actor=by,
            action=AuditAction.DENIED,
            obj=application,
            patient=application.patient,
            detail=f"refused: {exc.from_status} -> {to}",
        )
        raise
    application.refresh_from_db()
    return application


# --- the patient's steps -----------------------------------------------------------------
@transaction.atomic
def application_start(*, patient: User, program: Program) -> Application:
    """Start (or resume) an application. Idempotent for the same program."""
    if patient.role != Role.PATIENT:
        raise ValidationError(_("Only patients can apply."))
    if not program.is_active:
        raise ValidationError(_("This program is not accepting applications."))
    existing = selectors.application_open_for_patient(patient=patient)
    if existing is not None:
        if existing.program_id == program.pk:
            return existing
        raise ValidationError(
            _("You already have an open application with %(program)s.")
            % {"program": existing.program.name}
        )
    try:
        with transaction.atomic():
            application = Application.objects.create(patient=patient, program=program)
    except IntegrityError as exc:  # a double submit raced us
        found = selectors.application_open_for_patient(patient=patient)
        if found is None or found.program_id != program.pk:
            raise ValidationError(_("You already have an open application.")) from exc
        return found
    # The profile names the program the patient applied to (so its clinicians may see them
    # and the crisis banner shows that program's line) until admission confirms it.
    profile = patient.patient_profile
    profile.program = program
    profile.save(update_fields=["program"])
    Transition.objects.create(
        application=application,
        from_status="",
        to_status=Status.STARTED,
        by=patient,
        at=timezone.now(),
    )
    audit_record(
        actor=patient, action=AuditAction.CREATE, obj=application, patient=patient, detail="start"
    )
    return application


EDITABLE_BY_PATIENT = frozenset({Status.STARTED, Status.SCREENED})


def _require_editable(application: Application) -> None:
    if application.status not in EDITABLE_BY_PATIENT:
        raise ValidationError(_("This application has been submitted and can no longer change."))


@transaction.atomic
def application_details_save(
    *, application: Application, by: User, data: Mapping[str, Any]
) -> Application:
    _require_patient(by=by, application=application)
    _require_editable(application)
    state = (data.get("state") or "").upper()
    served = [s.upper() for s in (application.program.states_served or [])]
    if served and state not in served:
        raise ValidationError(
            {
                "state": _(
                    "%(program)s is licensed to provide telehealth only in: %(states)s. "
                    "We cannot treat you while you live in another state; your own state's "
                    "programs, or 988 in a crisis, can help."
                )
                % {"program": application.program.name, "states": ", ".join(served)}
            }
        )
    dob = data.get("date_of_birth")
    if isinstance(dob, date) and dob >= timezone.localdate():
        raise ValidationError({"date_of_birth": _("Enter your date of birth.")})
    fields = [
        "phone",
        "date_of_birth",
        "state",
        "emergency_name",
        "emergency_phone",
        "emergency_relationship",
        "heard_from",
        "current_treatment",
        "reason",
    ]
    for name in fields:
        value = data.get(name)
        setattr(application, name, state if name == "state" else value)
    application.details_done_at = application.details_done_at or timezone.now()
    application.save(update_fields=[*fields, "details_done_at"])
    audit_record(actor=by, action=AuditAction.UPDATE, obj=application, patient=by, detail="details")
    return application


def application_measure_submit(
    *, application: Application, by: User, instrument_code: str, answers: Mapping[str, object]
) -> MeasureResponse:
    """Store one screening instrument for this application (idempotent per instrument) and,
    once the whole battery is done, move the application to "screening done"."""
    _require_patient(by=by, application=application)
    battery = selectors.screening_battery(application=application)
    definition = instrument_get(instrument_code)
    if definition is None or definition not in battery:
        raise AnswersInvalid({"__all__": _("This questionnaire is not part of your application.")})
    with transaction.atomic():
        response = measure_submit(
            patient=application.patient,
            instrument=definition,
            answers=answers,
            context=MeasureContext.INTAKE,
            ref=f"application:{application.pk}",
            program=application.program,
        )
        done = selectors.screening_done_codes(application=application)
        if application.status == Status.STARTED and all(i.code in done for i in battery):
            application_transition(application=application, to=Status.SCREENED, by=by)
    return response


@transaction.atomic
def consent_sign(
    *,
    patient: User,
    document: ConsentDocument,
    typed_name: str,
    ip: str | None,
    user_agent: str,
    application: Application | None = None,
) -> ConsentSignature:
    """Sign one version of a document by typing one's full name. Idempotent."""
    if patient.role != Role.PATIENT:
        raise ValidationError(_("Only patients sign consents."))
    if not document.is_active:
        raise ValidationError(_("This version is no longer in use."))
    program = selectors.consent_program_for_patient(patient=patient)
    if not selectors.consent_applies(document=document, program=program):
        raise ValidationError(_("Your program does not ask for this consent."))
    if _normalise_name(typed_name) != _normalise_name(patient.full_name):
        raise ValidationError(
            {"typed_name": _("Type your full name exactly as it appears on your account.")}
        )
    # A revoked signature stays on record and does not count: the same version may be
    # signed again (consentsignature_one_unrevoked allows one in force at a time).
    in_force = ConsentSignature.objects.filter(
        patient=patient, document=document, revoked_at__isnull=True
    )
    existing = in_force.first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            signature = ConsentSignature.objects.create(
                patient=patient,
                document=document,
                application=application,
                typed_name=" ".join(typed_name.split()),
                signed_at=timezone.now(),
                ip=ip,
                user_agent=(user_agent or "")[:300],
            )
    except IntegrityError:  # a double submit that raced past the check: the first one won
        return in_force.get()
    audit_record(
        actor=patient,
        action=AuditAction.CREATE,
        obj=signature,
        patient=patient,
        detail=f"consent {document.kind} v{document.version}",
    )
    return signature


def card_image_check(upload: UploadedFile) -> str:
    """Return the content type of an insurance card image, checked by content, or raise."""
    if upload.size is None or upload.size > MAX_CARD_BYTES:
        raise ValidationError(_("The image must be 10 MB or smaller."))

    try:
        upload.seek(0)
        data = upload.read()
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ValidationError(_("Upload a photo (JPEG, PNG or WebP) of the card.")) from exc
    finally:
        upload.seek(0)
    if kind not in CARD_TYPES:
        raise ValidationError(_("Upload a photo (JPEG, PNG or WebP) of the card."))
    return CARD_TYPES[kind]


@transaction.atomic
def insurance_save(
    *,
    application: Application,
    by: User,
    data: Mapping[str, Any],
    card_front: UploadedFile | None = None,
    card_back: UploadedFile | None = None,
) -> Insurance:
    _require_patient(by=by, application=application)
    _require_editable(application)
    errors: dict[str, str] = {}
    self_pay = bool(data.get("self_pay"))
    if not self_pay:
        for name in ("payer", "member_id"):
            if not (data.get(name) or "").strip():
                errors[name] = _("Required unless you choose self-pay.")
    types: dict[str, str] = {}
    for name, upload in (("card_front", card_front), ("card_back", card_back)):
        if upload is not None:
            try:
                types[name] = card_image_check(upload)
            except ValidationError as exc:
                errors[name] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    insurance, _created = Insurance.objects.get_or_create(
        application=application, defaults={"self_pay": True}
    )
    insurance.self_pay = self_pay
    for name in ("payer", "member_id", "group_number", "subscriber_relationship"):
        setattr(insurance, name, "" if self_pay else (data.get(name) or "").strip())
    old_files = []
    for name, upload in (("card_front", card_front), ("card_back", card_back)):
        if upload is not None and not self_pay:
            field = getattr(insurance, name)
            if field:
                old_files.append(field.name)
            field.save(upload.name or "card", upload, save=False)
            setattr(insurance, f"{name}_type", types[name])
    insurance.save()
    application.insurance_done_at = application.insurance_done_at or timezone.now()
    application.save(update_fields=["insurance_done_at"])
    for old in old_files:  # replaced images are removed once the new ones are stored
        transaction.on_commit(partial(private_storage.delete, old))
    audit_record(actor=by, action=AuditAction.UPDATE, obj=insurance, patient=by, detail="insurance")
    return insurance


def application_submit(
    *,
    application: Application,
    by: User,
    preferred_times: Iterable[datetime | None],
    notes: str = "",
) -> Application:
    """Request an intake appointment and submit the application (screened -> submitted)."""
    _require_patient(by=by, application=application)
    times = sorted(t for t in preferred_times if t is not None)
    if not times:
        raise ValidationError({"preferred_1": _("Choose at least one time that suits you.")})
    if any(t <= timezone.now() for t in times):
        raise ValidationError({"preferred_1": _("Choose times in the future.")})
    missing = selectors.application_missing_steps(application=application)
    missing.discard("intake")
    if missing:
        raise ValidationError(_("Finish the earlier steps first."))
    if application.status == Status.SUBMITTED:
        return application  # a repeat submit changes nothing
    return application_transition(
        application=application,
        to=Status.SUBMITTED,
        by=by,
        changes={
            "preferred_times": [t.isoformat() for t in times],
            "intake_notes": notes[:500],
            "intake_requested_at": timezone.now(),
            "submitted_at": timezone.now(),
        },
    )


def application_withdraw(*, application: Application, by: User) -> Application:
    _require_patient(by=by, application=application)

    def cancel_appointments(app: Application) -> None:
        scheduling_services.appointments_cancel_for_patient(
            patient=app.patient, by=by, reason=str(_("Application withdrawn"))
        )

    return application_transition(
        application=application, to=Status.WITHDRAWN, by=by, then=cancel_appointments
    )


# --- the clinician's decisions -----------------------------------------------------------
INTAKE_MINUTES = 60


def application_schedule_intake(
    *,
    application: Application,
    by: User,
    intake_at: datetime,
    clinician: User | None = None,
    minutes: int = INTAKE_MINUTES,
) -> Application:
    """Book the intake as a real appointment (a video visit in the clinician's open hours,
    with its reminders and join link) and tell the applicant. Scheduling again moves it."""
    _require_staff_for(by=by, application=application)
    clinician = clinician or by
    if not application.program.staff.filter(user=clinician, user__role=Role.CLINICIAN).exists():
        raise ValidationError({"clinician": _("Choose a clinician of this program.")})
    ends_at = intake_at + timedelta(minutes=minutes)

    def book(app: Application) -> None:
        current = selectors.intake_booked(application=app)
        if current is not None and current.clinician_id == clinician.pk:
            appointment = scheduling_services.appointment_reschedule(
                appointment=current, by=by, starts_at=intake_at, ends_at=ends_at
            )
        else:
            if current is not None:
                scheduling_services.appointment_set_status(
                    appointment=current,
                    by=by,
                    status=AppointmentStatus.CANCELLED,
                    reason=str(_("Intake moved")),
                )
            appointment = scheduling_services.appointment_book(
                clinician=clinician,
                patient=app.patient,
                kind=AppointmentKind.INTAKE,
                starts_at=intake_at,
                ends_at=ends_at,
                by=by,
                program=app.program,
            )
        notification_schedule(
            recipient=app.patient,
            kind=NotificationKind.INTAKE_SCHEDULED,
            event_key=f"enrollment:{app.pk}:intake:{appointment.pk}@{intake_at:%Y%m%d%H%M}",
            context={
                "starts_at": intake_at,
                "appointment_id": appointment.pk,
                "link": reverse("enrollment:my_application"),
            },
        )

    return application_transition(
        application=application,
        to=Status.INTAKE_SCHEDULED,
        by=by,
        changes={"intake_at": intake_at},
        then=book,
    )


def application_admit(
    *,
    application: Application,
    by: User,
    start_date: date,
    primary_clinician: User,
    groups: Iterable[Any] = (),
) -> Application:
    _require_staff_for(by=by, application=application)
    if not application.program.staff.filter(
        user=primary_clinician, user__role=Role.CLINICIAN
    ).exists():
        raise ValidationError({"primary_clinician": _("Choose a clinician of this program.")})
    groups = list(groups)
    join = scheduling_services.membership_add  # looked up per call: tests may replace it

    def admit(app: Application) -> None:
        # Checked once the move itself is known to be allowed (an applicant still at
        # "submitted" is refused as an illegal step, not for a missing intake).
        if not selectors.intake_held(application=app):
            raise ValidationError(
                _("Hold the intake first: admission follows the intake assessment.")
            )
        profile = app.patient.patient_profile
        profile.program = app.program
        profile.primary_clinician = primary_clinician
        profile.save(update_fields=["program", "primary_clinician"])
        # Seats from the start date; a full group refuses (SchedulingError is a
        # ValidationError), which rolls the whole admission back.
        for group in groups:
            join(group=group, patient=app.patient, by=by, from_date=start_date)
        notification_schedule(
            recipient=app.patient,
            kind=NotificationKind.ADMITTED,
            event_key=f"enrollment:{app.pk}:admitted",
            context={
                "start_on": start_date,
                "group_id": groups[0].pk if groups else None,
                "link": reverse("scheduling:my_week"),
            },
        )

    return application_transition(
        application=application,
        to=Status.ADMITTED,
        by=by,
        changes={
            "start_date": start_date,
            "decided_by": by,
            "decided_at": timezone.now(),
        },
        then=admit,
    )


def application_waitlist(
    *, application: Application, by: User, position: int, expected: date | None
) -> Application:
    _require_staff_for(by=by, application=application)
    if position < 1:
        raise ValidationError({"position": _("The position starts at 1.")})
    return application_transition(
        application=application,
        to=Status.WAITLISTED,
        by=by,
        changes={
            "waitlist_position": position,
            "waitlist_expected": expected,
            "decided_by": by,
            "decided_at": timezone.now(),
        },
    )


def application_refer(*, application: Application, by: User, reason: str) -> Application:
    _require_staff_for(by=by, application=application)
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Give the reason for the referral.")})
    return application_transition(
        application=application,
        to=Status.REFERRED,
        by=by,
        changes={
            "referral_reason": reason.strip(),
            "decided_by": by,
            "decided_at": timezone.now(),
        },
    )


def application_discharge(
    *,
    application: Application,
    by: User,
    data: Mapping[str, Any],
    phq9: Mapping[str, object] | None = None,
    gad7: Mapping[str, object] | None = None,
) -> Discharge:
    """Discharge an admitted patient with a continuing-care plan; optionally record discharge
    PHQ-9/GAD-7 administered in session. All of it commits together or not at all."""
    _require_staff_for(by=by, application=application)
    if data.get("reason") not in {c for c, _label in Discharge._meta.get_field("reason").choices}:  # type: ignore[union-attr]
        raise ValidationError({"reason": _("Choose a discharge reason.")})
    end_memberships = scheduling_services.memberships_end_for_patient

    def discharge(app: Application) -> None:
        Discharge.objects.create(
            application=app,
            reason=data["reason"],
            follow_up_provider=data.get("follow_up_provider", ""),
            follow_up_frequency=data.get("follow_up_frequency", ""),
            support_groups=data.get("support_groups", ""),
            relapse_prevention_link=data.get("relapse_prevention_link", ""),
            summary=data.get("summary", ""),
            discharged_at=timezone.now(),
            by=by,
        )
        for code, answers in (("phq9", phq9), ("gad7", gad7)):
            if answers:
                measure_submit(
                    patient=app.patient,
                    instrument=code,
                    answers=answers,
                    context=MeasureContext.DISCHARGE,
                    ref=f"discharge:{app.pk}",
                    program=app.program,
                    entered_by=by,
                )
        # Group seats end on the discharge day (program's calendar); later sessions and
        # waitlist places go, freeing seats for the waitlist.
        end_memberships(patient=app.patient, on=_program_today(app.program), by=by)
        scheduling_services.appointments_cancel_for_patient(
            patient=app.patient, by=by, reason=str(_("Discharged from the program"))
        )

    application_transition(application=application, to=Status.DISCHARGED, by=by, then=discharge)
    return Discharge.objects.get(application=application)


def _program_today(program: Program) -> date:
    return timezone.localtime(timezone.now(), program.time_zone).date()


# --- plans -------------------------------------------------------------------------------
@transaction.atomic
def treatment_plan_save(
    *,
    patient: User,
    program: Program,
    by: User,
    problems: str,
    interventions: str,
    review_date: date,
    goals: list[Mapping[str, Any]],
) -> TreatmentPlan:
    """Write a new version of the plan (a review is a new version; history is kept)."""
    if not is_staff(by):
        raise PermissionError("clinicians write treatment plans")
    goals = [g for g in goals if (g.get("goal") or "").strip()]
    if not goals:
        raise ValidationError(_("Add at least one goal with a measurable objective."))
    current = TreatmentPlan.objects.filter(patient=patient).aggregate(v=Max("version"))["v"] or 0
    plan = TreatmentPlan.objects.create(
        patient=patient,
        program=program,
        version=current + 1,
        problems=problems,
        interventions=interventions,
        review_date=review_date,
        created_by=by,
        created_at=timezone.now(),
    )
    TreatmentGoal.objects.bulk_create(
        TreatmentGoal(
            plan=plan,
            position=n,
            goal=g["goal"].strip(),
            objective=(g.get("objective") or "").strip(),
            target_date=g["target_date"],
        )
        for n, g in enumerate(goals, 1)
    )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=plan, patient=patient, detail=f"v{plan.version}"
    )
    return plan


@transaction.atomic
def treatment_plan_sign(*, plan: TreatmentPlan, patient: User, typed_name: str) -> TreatmentPlan:
    if plan.patient_id != patient.pk:
        raise PermissionError("not this patient's plan")
    if _normalise_name(typed_name) != _normalise_name(patient.full_name):
        raise ValidationError(
            {"typed_name": _("Type your full name exactly as it appears on your account.")}
        )
    latest = TreatmentPlan.objects.filter(patient=patient).order_by("-version").first()
    if latest is None or latest.pk != plan.pk:
        raise ValidationError(_("A newer version of this plan exists; sign that one."))
    now = timezone.now()
    updated = TreatmentPlan.objects.filter(pk=plan.pk, patient_signed_at__isnull=True).update(
        patient_signed_at=now, patient_signature=" ".join(typed_name.split())
    )
    plan.refresh_from_db()
    if updated:
        audit_record(
            actor=patient, action=AuditAction.UPDATE, obj=plan, patient=patient, detail="signed"
        )
    return plan


SAFETY_FIELDS = (
    "warning_signs",
    "coping_strategies",
    "distractions",
    "help_contacts",
    "professionals",
    "environment",
    "reason_for_living",
)


@transaction.atomic
def safety_plan_save(*, patient: User, by: User, data: Mapping[str, Any]) -> SafetyPlan:
    """Write a new version of the patient's safety plan (by the patient or a clinician who
    may see them; the caller's selector has checked that)."""
    values = {name: (data.get(name) or "").strip() for name in SAFETY_FIELDS}
    if not any(values.values()):
        raise ValidationError(_("Write at least one step of the plan."))
    if any(len(v) > 4000 for v in values.values()):
        raise ValidationError(_("Keep each step under 4,000 characters."))
    current = SafetyPlan.objects.filter(patient=patient).order_by("-version").first()
    if current is not None and all(getattr(current, k) == v for k, v in values.items()):
        return current  # nothing changed: no new version
    plan = SafetyPlan.objects.create(
        patient=patient,
        version=(current.version if current else 0) + 1,
        created_by=by,
        created_at=timezone.now(),
        **values,
    )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=plan, patient=patient, detail=f"v{plan.version}"
    )
    return plan


# --- releases of information and revocation ----------------------------------------------
# Shown and stored with every release in a substance-use program (42 CFR 2.31: a Part 2
# consent states the right to revoke and what revocation cannot undo; 2.32: the notice).
PART2_CONSENT_STATEMENT = _lazy(
    "The information this release covers comes from substance-use treatment records protected "
    "by federal law (42 CFR part 2). I may revoke this consent at any time, in writing or on "
    "my consents page, except to the extent the program has already acted on it. My treatment, "
    "payment, enrollment or eligibility for benefits does not depend on my signing it. "
    "Records disclosed under it may not be used or disclosed in any civil, criminal, "
    "administrative or legislative proceeding against me without my further consent or a "
    "court order."
)
MAX_REVOCATION_AHEAD = 365


def part2_text() -> str:
    return f"{PART2_CONSENT_STATEMENT}\n\n{PART2_NOTICE}"


@transaction.atomic
def release_create(
    *,
    by: User,
    patient: User,
    recipient_kind: str,
    recipient_name: str,
    purpose: str,
    items: Iterable[str],
    items_other: str = "",
    recipient_relationship: str = "",
    recipient_contact: str = "",
    expires_on: date | None = None,
    expiry_event: str = "",
    may_receive_appointment_times: bool = False,
    recipient_email: str = "",
) -> ReleaseOfInformation:
    """A draft release for ``patient``, written by the patient themself or a clinician of
    their program (``selectors.release_patient_for_drafter``). Only the patient can sign it."""
    if selectors.release_patient_for_drafter(viewer=by, patient_id=patient.pk) is None:
        raise ValidationError(_("You cannot write a release for this patient."))
    if patient.role != Role.PATIENT:
        raise ValidationError(_("Releases are for patients."))
    program = getattr(getattr(patient, "patient_profile", None), "program", None)
    if program is None:
        raise ValidationError(_("The patient is in no program."))
    errors: dict[str, str] = {}
    if recipient_kind not in RecipientKind.values:
        errors["recipient_kind"] = _("Choose who receives the information.")
    recipient_name = " ".join((recipient_name or "").split())
    if not recipient_name:
        errors["recipient_name"] = _("Name the person or organisation.")
    chosen = list(dict.fromkeys(str(i) for i in items))
    if any(i not in DisclosureItem.values for i in chosen):
        errors["items"] = _("Choose from the list.")
    if may_receive_appointment_times and DisclosureItem.APPOINTMENT_TIMES not in chosen:
        chosen.append(DisclosureItem.APPOINTMENT_TIMES)
    recipient_email = (recipient_email or "").strip()
    if recipient_email:
        try:
            EmailValidator()(recipient_email)
        except ValidationError:
            errors["recipient_email"] = _("Enter a valid e-mail address.")
        else:
            if len(recipient_email) > 254:
                errors["recipient_email"] = _("Enter a valid e-mail address.")
    elif may_receive_appointment_times:
        errors["recipient_email"] = _(
            "Give their e-mail address: appointment times are sent to it."
        )
    items_other = " ".join((items_other or "").split())
    if not chosen and not items_other:
        errors["items"] = _("Say what may be disclosed.")
    purpose = " ".join((purpose or "").split())
    if not purpose:
        errors["purpose"] = _("Say what the information is for.")
    expiry_event = " ".join((expiry_event or "").split())
    today = selectors.patient_today(patient)
    if expires_on is None and not expiry_event:
        errors["expires_on"] = _("Give an expiry date or the event that ends it.")
    elif expires_on is not None and expires_on < today:
        errors["expires_on"] = _("The expiry date is in the past.")
    if errors:
        raise ValidationError(errors)
    release = ReleaseOfInformation.objects.create(
        patient=patient,
        program=program,
        recipient_kind=recipient_kind,
        recipient_name=recipient_name[:150],
        recipient_relationship=" ".join((recipient_relationship or "").split())[:60],
        recipient_contact=" ".join((recipient_contact or "").split())[:200],
        items=chosen,
        items_other=items_other[:300],
        purpose=purpose[:300],
        expires_on=expires_on,
        expiry_event=expiry_event[:200],
        may_receive_appointment_times=may_receive_appointment_times,
        recipient_email=recipient_email,
        part2_notice=part2_text() if program.is_substance_use else "",
        created_by=by,
        created_at=timezone.now(),
    )
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=release,
        patient=patient,
        detail=f"release drafted ({recipient_kind})",
    )
    return release


def release_text(*, release: ReleaseOfInformation) -> str:
    """The words the patient reads and signs; kept verbatim in ``signed_text`` at signing."""
    return render_to_string("enrollment/release.txt", {"release": release}).strip()


@transaction.atomic
def release_sign(
    *,
    patient: User,
    release: ReleaseOfInformation,
    typed_name: str,
    ip: str | None,
    user_agent: str,
) -> ReleaseOfInformation:
    """The patient signs a draft release by typing their full name. Signing twice is refused
    (the conditional update claims the unsigned row)."""
    if release.patient_id != patient.pk:
        raise ValidationError(_("Only the patient named in a release can sign it."))
    if release.signed_at is not None:
        raise ValidationError(_("This release is already signed."))
    if release.expires_on is not None and release.expires_on < selectors.patient_today(patient):
        raise ValidationError(_("This release has expired; write a new one."))
    if _normalise_name(typed_name) != _normalise_name(patient.full_name):
        raise ValidationError(
            {"typed_name": _("Type your full name exactly as it appears on your account.")}
        )
    now = timezone.now()
    text = release_text(release=release)
    claimed = ReleaseOfInformation.objects.filter(pk=release.pk, signed_at__isnull=True).update(
        signed_text=text,
        typed_name=" ".join(typed_name.split())[:150],
        signed_at=now,
        ip=ip,
        user_agent=(user_agent or "")[:300],
    )
    if not claimed:
        raise ValidationError(_("This release is already signed."))
    release.refresh_from_db()
    audit_record(
        actor=patient,
        action=AuditAction.UPDATE,
        obj=release,
        patient=patient,
        detail="release signed",
    )
    return release


@transaction.atomic
def release_event_confirm(
    *, by: User, release: ReleaseOfInformation, happened_on: date | None
) -> ReleaseOfInformation:
    """Staff who may see the patient confirm that the event ending ``release`` happened on
    ``happened_on``: from that day the release is expired, so disclosures and family links
    under it stop. Holds the release's row lock, as ``consent_revoke`` and
    ``disclosure_record`` do, so a disclosure is either before it or refused after it."""
    if not is_staff(by):
        raise ValidationError(_("Only the patient's care team can confirm this."))
    locked = (
        ReleaseOfInformation.objects.select_for_update(of=("self",))
        .select_related("patient")
        .filter(pk=release.pk)
        .first()
    )
    if (
        locked is None
        or selectors.patient_get_for_viewer(viewer=by, patient_id=locked.patient_id) is None
    ):
        raise ValidationError(_("You cannot change this patient's releases."))
    if not locked.expiry_event or locked.signed_at is None:
        raise ValidationError(_("This release does not end on an event."))
    if locked.event_happened_on is not None:
        raise ValidationError(_("The event was already confirmed."))
    today = selectors.patient_today(locked.patient)
    if happened_on is None:
        raise ValidationError({"happened_on": _("Give the day the event happened.")})
    if happened_on > today:
        raise ValidationError(
            {"happened_on": _("Confirm an event once it has happened, not ahead.")}
        )
    signed_on = timezone.localtime(locked.signed_at, selectors.patient_zone(locked.patient)).date()
    if happened_on < signed_on:
        raise ValidationError({"happened_on": _("That is before the patient signed the release.")})
    ReleaseOfInformation.objects.filter(pk=locked.pk, event_happened_on__isnull=True).update(
        event_happened_on=happened_on, event_confirmed_by=by, event_confirmed_at=timezone.now()
    )
    locked.refresh_from_db()
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=locked,
        patient=locked.patient,
        detail=f"release expiry event confirmed (happened {happened_on.isoformat()})",
    )
    return locked


@transaction.atomic
def release_sign_again(*, patient: User, release: ReleaseOfInformation) -> ReleaseOfInformation:
    """A revoked release the patient wants in force again: a new draft with the same terms
    (``renews`` points back), which they then sign as any release. The revoked one and its
    revocation stay on record. Asking twice returns the same draft."""
    locked = (
        ReleaseOfInformation.objects.select_for_update(of=("self",))
        .select_related("revocation")
        .filter(pk=release.pk)
        .first()
    )
    if locked is None or locked.patient_id != patient.pk or patient.role != Role.PATIENT:
        raise ValidationError(_("Only the patient named in a release can sign it again."))
    if getattr(locked, "revocation", None) is None:
        raise ValidationError(_("Only a revoked release can be signed again."))
    renewal = ReleaseOfInformation.objects.filter(renews=locked).first()
    if renewal is not None:
        return renewal
    if locked.expires_on is not None and locked.expires_on < selectors.patient_today(patient):
        raise ValidationError(_("This release has expired; write a new one."))
    copy = ReleaseOfInformation.objects.create(
        patient=patient,
        program=locked.program,
        recipient_kind=locked.recipient_kind,
        recipient_name=locked.recipient_name,
        recipient_relationship=locked.recipient_relationship,
        recipient_contact=locked.recipient_contact,
        items=list(locked.items),
        items_other=locked.items_other,
        purpose=locked.purpose,
        expires_on=locked.expires_on,
        expiry_event=locked.expiry_event,
        may_receive_appointment_times=locked.may_receive_appointment_times,
        recipient_email=locked.recipient_email,
        part2_notice=locked.part2_notice,
        renews=locked,
        created_by=patient,
        created_at=timezone.now(),
    )
    audit_record(
        actor=patient,
        action=AuditAction.CREATE,
        obj=copy,
        patient=patient,
        detail=f"release drafted again from {locked.pk}",
    )
    return copy


@transaction.atomic
def consent_revoke(
    *,
    patient: User,
    effective_on: date,
    reason: str = "",
    signature: ConsentSignature | None = None,
    release: ReleaseOfInformation | None = None,
) -> Revocation:
    """The patient revokes a signed consent or release, as of ``effective_on`` (today or a
    later day). Holds the row lock of what it revokes, which ``disclosure_record`` takes too,
    so a disclosure is either recorded before the revocation or refused after it.

    Revoking a consent the program requires is allowed (the patient's right); their
    clinicians are told at once through the outbox, and the chart shows it."""
    if (signature is None) == (release is None):
        raise ValidationError(_("Choose one consent to revoke."))
    target: ConsentSignature | ReleaseOfInformation
    if signature is not None:
        target = ConsentSignature.objects.select_for_update().get(pk=signature.pk)
    else:
        assert release is not None
        target = ReleaseOfInformation.objects.select_for_update().get(pk=release.pk)
    if target.patient_id != patient.pk:
        raise ValidationError(_("Only the patient can revoke their consent."))
    if isinstance(target, ReleaseOfInformation) and target.signed_at is None:
        raise ValidationError(_("This release was never signed, so there is nothing to revoke."))
    field = "signature" if signature is not None else "release"
    if Revocation.objects.filter(**{field: target}).exists():
        raise ValidationError(_("This consent is already revoked."))
    today = selectors.patient_today(patient)
    if effective_on < today:
        raise ValidationError(
            {"effective_on": _("A revocation cannot be dated in the past; it stops future use.")}
        )
    if (effective_on - today).days > MAX_REVOCATION_AHEAD:
        raise ValidationError({"effective_on": _("Choose a date within a year.")})
    try:
        with transaction.atomic():
            revocation = Revocation.objects.create(
                patient=patient,
                effective_on=effective_on,
                reason=" ".join((reason or "").split())[:300],
                revoked_at=timezone.now(),
                by=patient,
                **{field: target},
            )
    except IntegrityError as exc:  # a double submit that raced past the check
        raise ValidationError(_("This consent is already revoked.")) from exc
    if isinstance(target, ConsentSignature):
        # Out of force from now on for signing purposes: the patient may sign again.
        ConsentSignature.objects.filter(pk=target.pk).update(revoked_at=revocation.revoked_at)
    kind = f"consent {target.document.kind}" if isinstance(target, ConsentSignature) else "release"
    audit_record(
        actor=patient,
        action=AuditAction.UPDATE,
        obj=target,
        patient=patient,
        detail=f"{kind} revoked",
    )
    _revocation_alert(revocation=revocation, patient=patient)
    return revocation


def _revocation_alert(*, revocation: Revocation, patient: User) -> None:
    """Tell the patient's clinicians: the notice says only that there is something to see
    (no PHI in e-mail); the link leads to the patient's consents for staff."""
    link = reverse("enrollment:patient_consents", args=[patient.pk])
    for clinician in clinicians_to_alert(patient=patient):
        notification_schedule(
            recipient=clinician,
            kind=Kind.GENERAL,
            event_key=f"enrollment.revocation:{revocation.pk}",
            context={"link": link, "patient_id": patient.pk},
        )
