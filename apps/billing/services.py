"""Billing writes: filling a program's settings and codes with the common ones (authorizations
are recorded in admin). Claims themselves are never stored (see ``selectors``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from apps.billing.codes import DEFAULT_CODES, default_per_diem_service
from apps.billing.models import BillingCode, BillingSettings

if TYPE_CHECKING:
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
