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
