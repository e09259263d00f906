"""Demo billing: settings and the common codes for every program, with a demo NPI and tax id,
and authorizations for patient1 and patient2 covering the past weeks, so the days whose group
notes charting's demo signed are billable. Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import User
from apps.billing import services
from apps.billing.models import Authorization, BillingSettings
from apps.programs.models import Program


def seed(stdout: TextIO) -> None:
    for program in Program.objects.all():
        services.billing_defaults_fill(program=program)
    BillingSettings.objects.filter(program__slug="adult-iop", npi="").update(
        clinic_name="Virtual IOP Demo Clinic",
        npi="1234567893",
        tax_id="12-3456789",
        address="100 Demo Street, Suite 2\nPortland, OR 97201",
        # The demo morning track is 165 minutes of groups a day; 150 makes its full days
        # billable and still shows short days as not billable.
        per_diem_min_minutes=150,
    )
    today = timezone.localdate()
    made = 0
    for n, total in [(1, 30), (2, 12)]:
        patient = User.objects.filter(email=f"patient{n}@demo.test").first()
        if patient is None:
            continue
        _row, created = Authorization.objects.get_or_create(
            payer="Demo Health Plan",
            number=f"DHP-AUTH-{n:04d}",
            defaults={
                "patient": patient,
                "authorized": total,
                "start_date": today - dt.timedelta(days=28),
                "end_date": today + dt.timedelta(days=5 if n == 2 else 30),
            },
        )
        made += created
    stdout.write(
        f"  billing: codes for {Program.objects.count()} programs, {made} authorizations\n"
    )
