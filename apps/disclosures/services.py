"""Writes for the disclosure log."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.http import is_staff
from apps.accounts.selectors import patient_get_for_viewer
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.disclosures.models import Disclosure, DisclosureKind
from apps.enrollment.models import PART2_NOTICE, ReleaseOfInformation
from apps.enrollment.selectors import release_state

if TYPE_CHECKING:
    from apps.accounts.models import User


@transaction.atomic
def disclosure_record(
    *,
    by: User,
    release: ReleaseOfInformation,
    kind: str,
    description: str,
    method: str = "",
    disclosed_at: dt.datetime | None = None,
) -> Disclosure:
    """Log a disclosure a staff member made under ``release``. Refused unless the release is
    active now: the release row is locked first (``consent_revoke`` locks it too), so a
    revocation committed before this call is always seen. Under Part 2 the §2.32 notice is
    stored with the disclosure."""
    if not is_staff(by):
        raise ValidationError(_("Only staff record disclosures."))
    locked = (
        ReleaseOfInformation.objects.select_for_update(of=("self",))
        .select_related("patient", "revocation")
        .filter(pk=release.pk)
        .first()
    )
    if locked is None or patient_get_for_viewer(viewer=by, patient_id=locked.patient_id) is None:
        raise ValidationError(_("You cannot record a disclosure for this patient."))
    state = release_state(locked)
    if state != "active":
        messages = {
            "draft": _("The patient has not signed this release."),
            "revoked": _("The patient revoked this release; nothing may be disclosed under it."),
            "expired": _("This release has expired; nothing may be disclosed under it."),
        }
        raise ValidationError({"release": messages[state]})
    errors: dict[str, str] = {}
    if kind not in DisclosureKind.values:
        errors["kind"] = _("Choose what was sent.")
    description = " ".join((description or "").split())
    if not description:
        errors["description"] = _("Describe what was sent.")
    now = timezone.now()
    disclosed_at = disclosed_at or now
    if disclosed_at > now + dt.timedelta(minutes=5):
        errors["disclosed_at"] = _("A disclosure is logged once it was made, not ahead.")
    elif locked.signed_at is not None and disclosed_at < locked.signed_at:
        errors["disclosed_at"] = _("That is before the patient signed the release.")
    if errors:
        raise ValidationError(errors)
    disclosure = Disclosure.objects.create(
        patient=locked.patient,
        release=locked,
        recipient=locked.recipient_name,
        kind=kind,
        description=description[:300],
        method=" ".join((method or "").split())[:60],
        disclosed_at=disclosed_at,
        by=by,
        # The program's Part 2 status when the patient signed decides, as the release does.
        part2_notice=str(PART2_NOTICE) if locked.is_part2 else "",
    )
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=disclosure,
        patient=locked.patient,
        detail=f"disclosure logged ({kind})",
    )
    return disclosure
