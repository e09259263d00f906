"""Billing writes: filling a program's settings and codes with the common ones, and
recording an authorization. Claims themselves are never stored (see ``selectors``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.billing.codes import DEFAULT_CODES, default_per_diem_service
from apps.billing.models import Authorization, AuthorizationUnit, BillingCode, BillingSettings

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.programs.models import Program


@transaction.atomic
def billing_defaults_fill(*, program: Program) -> BillingSettings:
    """The program's settings and the common codes, created where missing; rows an admin
    already edited are left as they are. Idempotent."""
    settings_row, _created = BillingSettings.objects.get_or_create(
        program=program,
        defaults={
            "clinic_name": program.name,
            "per_diem_service": default_per_diem_service(program.kind),
        },
    )
    have = set(
        BillingCode.objects.filter(program=program, active=True).values_list(
            "service", "min_minutes"
        )
    )
    BillingCode.objects.bulk_create(
        BillingCode(program=program, **code._asdict())
        for code in DEFAULT_CODES
        if (code.service, code.min_minutes) not in have
    )
    return settings_row


@transaction.atomic
def authorization_create(
    *,
    patient: User,
    by: User | None,
    payer: str,
    number: str,
    authorized: int,
    start_date: dt.date,
    end_date: dt.date,
    unit: str = AuthorizationUnit.DAYS,
) -> Authorization:
    authorization = Authorization(
        patient=patient,
        payer=payer,
        number=number,
        authorized=authorized,
        start_date=start_date,
        end_date=end_date,
        unit=unit,
        created_by=by,
    )
    authorization.full_clean()  # ValidationError: nothing written
    authorization.save()
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=authorization,
        patient=patient,
        detail="authorization recorded",
    )
    return authorization
