"""Reads for the disclosure log. Access: whoever may see the patient
(``patients_visible_to``: the patient themself, their programs' staff, admins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.accounts.selectors import patient_get_for_viewer
from apps.disclosures.models import Disclosure

if TYPE_CHECKING:
    from apps.accounts.models import User


def disclosures_for_patient(*, viewer: User, patient: User) -> list[Disclosure]:
    if patient_get_for_viewer(viewer=viewer, patient_id=patient.pk) is None:
        return []
    return list(Disclosure.objects.filter(patient=patient).select_related("release", "by"))


def disclosure_get_for_viewer(*, viewer: User, disclosure_id: int) -> Disclosure | None:
    disclosure = (
        Disclosure.objects.select_related("release", "by", "patient")
        .filter(pk=disclosure_id)
        .first()
    )
    if disclosure is None or not viewer.is_authenticated:
        return None
    if patient_get_for_viewer(viewer=viewer, patient_id=disclosure.patient_id) is None:
        return None
    return disclosure
