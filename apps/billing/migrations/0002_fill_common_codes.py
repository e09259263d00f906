"""Existing programs start with billing settings and the common codes (new programs get the
same defaults from ``selectors.settings_for``/``codes_for`` until an admin saves their own,
and from ``services.billing_defaults_fill`` in the demo and the admin action)."""

from django.db import migrations

# Frozen here: a migration must not follow later edits of apps/billing/codes.py.
CODES = [
    ("per_diem_mh", "S9480", "Intensive outpatient psychiatric services, per diem", 0, None),
    ("per_diem_sud", "H0015", "Alcohol and/or drug services; intensive outpatient", 0, None),
    ("group", "90853", "Group psychotherapy", 0, None),
    ("individual", "90832", "Psychotherapy, 30 minutes", 16, 37),
    ("individual", "90834", "Psychotherapy, 45 minutes", 38, 52),
    ("individual", "90837", "Psychotherapy, 60 minutes", 53, None),
    ("intake", "90791", "Psychiatric diagnostic evaluation", 0, None),
    ("family", "90847", "Family psychotherapy with the patient", 26, None),
]


def fill(apps, schema_editor):
    Program = apps.get_model("programs", "Program")
    BillingSettings = apps.get_model("billing", "BillingSettings")
    BillingCode = apps.get_model("billing", "BillingCode")
    for program in Program.objects.all():
        BillingSettings.objects.get_or_create(
            program=program,
            defaults={
                "clinic_name": program.name,
                "per_diem_service": (
                    "per_diem_sud" if program.kind == "substance_use" else "per_diem_mh"
                ),
            },
        )
        if BillingCode.objects.filter(program=program).exists():
            continue
        BillingCode.objects.bulk_create(
            BillingCode(
                program=program,
                service=service,
                code=code,
                description=description,
                min_minutes=low,
                max_minutes=high,
            )
            for service, code, description, low, high in CODES
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial"), ("programs", "0001_initial")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
