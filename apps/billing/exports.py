"""The superbill (HTML rendered to PDF by xhtml2pdf) and the claims CSV: CMS-1500 fields per
line for the clinic's billing service. No X12 837P is written: no kept Python library
generates it, and hand-written X12 is how claims get rejected."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from apps.billing.selectors import BillingResult, ClaimDiagnosis, claim_diagnoses

if TYPE_CHECKING:
    from apps.accounts.models import User

# CMS-1500 (02/12) boxes each column fills, so the billing service can map them.
CLAIM_COLUMNS = [
    ("patient_account", "26"),
    ("patient_name", "2"),
    ("patient_dob", "3"),
    ("insured_id", "1a"),
    ("payer", "11c"),
    ("insured_group", "11"),
    ("prior_authorization", "23"),
    ("diagnosis_codes", "21"),
    ("service_date_from", "24A"),
    ("service_date_to", "24A"),
    ("place_of_service", "24B"),
    ("procedure_code", "24D"),
    ("modifiers", "24D"),
    ("diagnosis_pointer", "24E"),
    ("charges", "24F"),
    ("units", "24G"),
    ("rendering_provider", "24J"),
    ("federal_tax_id", "25"),
    ("signer", "31"),
    ("billing_provider", "33"),
    ("billing_provider_address", "33"),
    ("billing_provider_npi", "33a"),
    ("minutes", ""),
    ("note_ids", ""),
]

# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _pointer(diagnoses: list[ClaimDiagnosis]) -> str:
    return "".join("ABCD"[i] for i in range(min(4, len(diagnoses))))


def claims_csv(result: BillingResult, patient_info: dict[int, dict[str, str]]) -> str:
    """One row per claim line of each billable day. Only codes, dates, ids, names and
    signers' names: never note text, never psychotherapy notes."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"{name} (box {box})" if box else name for name, box in CLAIM_COLUMNS])
    settings = result.settings
    address = " ".join(settings.address.split())
    for pd in result.days:
        if not pd.billable:
            continue
        info = patient_info.get(pd.patient.pk, {})
        diagnoses = claim_diagnoses(patient=pd.patient, day=pd.day)
        for line in pd.lines:
            signers = line.signers
            row = {
                "patient_account": pd.patient.pk,
                "patient_name": pd.patient.full_name,
                "patient_dob": info.get("dob", ""),
                "insured_id": info.get("member_id", ""),
                "payer": pd.authorization.payer if pd.authorization else info.get("payer", ""),
                "insured_group": info.get("group_number", ""),
                "prior_authorization": pd.authorization.number if pd.authorization else "",
                "diagnosis_codes": " ".join(d.code for d in diagnoses[:12]),
                "service_date_from": line.day.isoformat(),
                "service_date_to": line.day.isoformat(),
                "place_of_service": line.place_of_service,
                "procedure_code": line.code,
                "modifiers": " ".join(line.modifiers),
                "diagnosis_pointer": _pointer(diagnoses),
                "charges": "",
                "units": line.units,
                "rendering_provider": signers[0] if signers else "",
                "federal_tax_id": settings.tax_id,
                "signer": "; ".join(signers),
                "billing_provider": settings.clinic_name,
                "billing_provider_address": address,
                "billing_provider_npi": settings.npi,
                "minutes": line.minutes,
                "note_ids": " ".join(str(i) for i in line.note_ids),
            }
            writer.writerow([csv_safe(row[name]) for name, _box in CLAIM_COLUMNS])
    return out.getvalue()


def superbill_context(result: BillingResult, patient: User, info: dict[str, str]) -> dict[str, Any]:
    days = [pd for pd in result.days if pd.billable and pd.lines]
    diagnoses: list[ClaimDiagnosis] = []
    for pd in days:
        for d in claim_diagnoses(patient=patient, day=pd.day):
            if d not in diagnoses:
                diagnoses.append(d)
    return {
        "settings": result.settings,
        "program": result.program,
        "patient": patient,
        "info": info,
        "start": result.start,
        "end": result.end,
        "days": days,
        "lines": [line for pd in days for line in pd.lines],
        "authorizations": [u.authorization for u in result.authorizations.get(patient.pk, [])],
        "diagnoses": diagnoses,
        "not_billable": [pd for pd in result.days if not pd.billable],
    }
