"""The common codes a new program starts with (CLINICAL.md, "Documentation and billing
facts"). Admins change them per program; payers differ, so verify with each payer."""

from __future__ import annotations

from typing import NamedTuple

from apps.billing.models import Service


class DefaultCode(NamedTuple):
    service: str
    code: str
    description: str
    min_minutes: int = 0
    max_minutes: int | None = None


DEFAULT_CODES: tuple[DefaultCode, ...] = (
    DefaultCode(
        Service.PER_DIEM_MH, "S9480", "Intensive outpatient psychiatric services, per diem"
    ),
    DefaultCode(
        Service.PER_DIEM_SUD, "H0015", "Alcohol and/or drug services; intensive outpatient"
    ),
    DefaultCode(Service.GROUP, "90853", "Group psychotherapy"),
    DefaultCode(Service.INDIVIDUAL, "90832", "Psychotherapy, 30 minutes", 16, 37),
    DefaultCode(Service.INDIVIDUAL, "90834", "Psychotherapy, 45 minutes", 38, 52),
    DefaultCode(Service.INDIVIDUAL, "90837", "Psychotherapy, 60 minutes", 53, None),
    DefaultCode(Service.INTAKE, "90791", "Psychiatric diagnostic evaluation"),
    DefaultCode(Service.FAMILY, "90847", "Family psychotherapy with the patient", 26, None),
)


def default_per_diem_service(program_kind: str) -> str:
    # H0015 is the substance-use IOP code; S9480 the psychiatric one (commercial payers).
    return Service.PER_DIEM_SUD if program_kind == "substance_use" else Service.PER_DIEM_MH
