"""Billing pages and exports: staff only, audited, no note text in the claims file."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.billing.models import BillingSettings
from apps.charting import services as charting
from tests.billing.conftest import PRIVATE, held, local_day

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed(program, clinician, patient, past_sessions):
    held(past_sessions[0], patient, clinician)
    held(past_sessions[1], patient, clinician, minutes=100)
    return past_sessions


def _period(sessions) -> dict[str, str]:
    return {"start": local_day(sessions[1]).isoformat(), "end": local_day(sessions[0]).isoformat()}


def _pages(program, patient, sessions):
    period = _period(sessions)
    return [
        (reverse("billing:home"), {"program": program.pk, **period}),
        (reverse("billing:claims_csv"), {"program": program.pk, **period}),
        (reverse("billing:superbill", args=[patient.pk]), period),
    ]


def test_logged_out_is_sent_to_sign_in(client, program, patient, billed):
    for url, params in _pages(program, patient, billed):
        response = client.get(url, params)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_patients_are_refused_even_their_own(client, login, program, patient, outsider, billed):
    for who in (patient, outsider):
        login(client, who)
        for url, params in _pages(program, patient, billed):
            assert client.get(url, params).status_code == 404, url


def test_another_programs_clinician_is_refused(
    client, login, program, patient, other_clinician, billed
):
    login(client, other_clinician)
    for url, params in _pages(program, patient, billed):
        assert client.get(url, params).status_code == 404, url
    assert AuditEvent.objects.filter(actor=other_clinician, action="denied").count() == 3
    # Their own billing page shows their program, never this one's patients.
    page = client.get(reverse("billing:home")).content.decode()
    assert patient.full_name not in page


def test_billing_page_lists_days_with_reasons(client, login, program, clinician, patient, billed):
    login(client, clinician)
    response = client.get(reverse("billing:home"), {"program": program.pk, **_period(billed)})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Billable" in page and "100 of 180 minutes" in page
    assert "S9480-95" in page
    blocked = client.get(
        reverse("billing:home"), {"program": program.pk, "status": "blocked", **_period(billed)}
    ).content.decode()
    assert "100 of 180 minutes" in blocked and "S9480-95" not in blocked
    assert AuditEvent.objects.filter(actor=clinician, object_type="billing.days").exists()


def test_bad_period_warns_and_shows_defaults(client, login, program, clinician, billed):
    login(client, clinician)
    for params in (
        {"start": "2024-99-01"},
        {"start": "2025-03-01", "end": "2025-01-01"},
        {"start": "2024-01-01", "end": "2024-12-31"},
        {"program": "abc"},
        {"status": "<script>"},
    ):
        response = client.get(reverse("billing:home"), params)
        assert response.status_code == 200
    assert client.get(reverse("billing:claims_csv"), {"start": "x1"}).status_code == 400
    assert client.get(reverse("billing:home"), {"program": 999999}).status_code == 404


def test_billing_page_query_count_is_pinned(
    client, login, program, clinician, patient, billed, django_assert_num_queries
):
    login(client, clinician)
    url = reverse("billing:home")
    params = {"program": program.pk, **_period(billed)}
    client.get(url, params)
    with django_assert_num_queries(QUERIES) as ctx:
        client.get(url, params)
    # A second patient with days of their own costs nothing more.
    from tests.factories import patient_in

    other = patient_in(program, email="second@example.test", full_name="Second Member")
    held(billed[2], other, clinician)
    with django_assert_num_queries(len(ctx.captured_queries)):
        client.get(
            url,
            {
                "program": program.pk,
                "start": local_day(billed[2]).isoformat(),
                "end": local_day(billed[0]).isoformat(),
            },
        )


# Session, user, MFA state, program, six for billable days, the audit event, nav and
# template context; fixed whatever the number of patients and days.
QUERIES = 16


def test_claims_csv_has_cms1500_lines_and_no_note_text(
    client, login, program, clinician, patient, billed
):
    BillingSettings.objects.create(
        program=program,
        clinic_name='=HYPERLINK("x")',
        npi="1234567893",
        tax_id="12-3456789",
        per_diem_service="per_diem_mh",
    )
    charting.psychotherapy_note_add(by=clinician, patient=patient, body="Psychotherapy secret")
    login(client, clinician)
    response = client.get(reverse("billing:claims_csv"), {"program": program.pk, **_period(billed)})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = response.content.decode()
    assert PRIVATE not in body and "Psychotherapy secret" not in body
    assert "Urge surfing" not in body and "DBT skills" not in body
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1  # the 100-minute day is not billable
    row = rows[0]
    assert row["procedure_code (box 24D)"] == "S9480"
    assert row["modifiers (box 24D)"] == "95"
    assert row["place_of_service (box 24B)"] == "10"
    assert row["billing_provider_npi (box 33a)"] == "1234567893"
    assert row["billing_provider (box 33)"].startswith("'=")  # CSV injection defused
    assert row["signer (box 31)"] == clinician.full_name
    events = AuditEvent.objects.filter(
        actor=clinician, action="export", object_type="billing.claims"
    )
    assert events.filter(patient=patient).count() == 1


def test_superbill_pdf_downloads_and_is_audited(client, login, program, clinician, patient, billed):
    login(client, clinician)
    response = client.get(reverse("billing:superbill", args=[patient.pk]), _period(billed))
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == f'attachment; filename="superbill-{patient.pk}.pdf"'
    assert AuditEvent.objects.filter(
        actor=clinician, action="export", object_type="billing.superbill", patient=patient
    ).exists()


def test_admin_downloads_any_patients_superbill(client, login, admin, patient, billed):
    login(client, admin)
    response = client.get(reverse("billing:superbill", args=[patient.pk]), _period(billed))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_chart_section_shows_billing_and_authorizations(client, login, clinician, patient, billed):
    login(client, clinician)
    page = client.get(reverse("progress:chart", args=[patient.pk])).content.decode()
    assert 'id="h-billing"' in page
    assert "days billable" in page and "No authorization on file" in page


def test_patient_statement_in_plain_words_without_codes(client, login, patient, billed):
    login(client, patient)
    page = client.get(reverse("progress:mine")).content.decode()
    assert 'id="h-statement"' in page and "Group therapy" in page
    for code in ("S9480", "90853", "POS", "Not billable"):
        assert code not in page
    assert AuditEvent.objects.filter(actor=patient, object_type="billing.statement").exists()


def test_outsider_patient_statement_shows_only_their_own(client, login, patient, outsider, billed):
    login(client, outsider)
    page = client.get(reverse("progress:mine")).content.decode()
    assert "Group therapy" not in page


def test_diagnoses_come_from_the_diagnoses_app_when_installed(
    client, login, program, clinician, patient, billed, monkeypatch
):
    import types

    from apps.billing import selectors

    assert selectors.claim_diagnoses(patient=patient, day=local_day(billed[0])) == []
    row = types.SimpleNamespace(code="F33.1", description="Major depressive disorder, recurrent")
    fake = types.SimpleNamespace(diagnoses_active_on=lambda *, patient, day: [row])
    real_installed, real_import = (
        selectors.django_apps.is_installed,
        selectors.importlib.import_module,
    )
    monkeypatch.setattr(
        selectors.django_apps,
        "is_installed",
        lambda name: name == "apps.diagnoses" or real_installed(name),
    )
    monkeypatch.setattr(
        selectors.importlib,
        "import_module",
        lambda name, *a: fake if name == "apps.diagnoses.selectors" else real_import(name, *a),
    )
    login(client, clinician)
    body = client.get(
        reverse("billing:claims_csv"), {"program": program.pk, **_period(billed)}
    ).content.decode()
    row_out = next(csv.DictReader(io.StringIO(body)))
    assert row_out["diagnosis_codes (box 21)"] == "F33.1"
    assert row_out["diagnosis_pointer (box 24E)"] == "A"
