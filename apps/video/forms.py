from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.video.models import GuestRole

# A family member or support person joins only under a release naming them.
NEEDS_RELEASE = frozenset({GuestRole.FAMILY, GuestRole.SUPPORT})


class GuestInviteForm(forms.Form):
    role = forms.ChoiceField(label=_("They join as"), choices=GuestRole.choices)
    release = forms.TypedChoiceField(
        label=_("Release of information naming them"),
        coerce=int,
        required=False,
        empty_value=None,
        help_text=_("Family members and support people need a signed, active release."),
    )
    name = forms.CharField(
        label=_("Their first name (interpreters)"),
        max_length=60,
        required=False,
        help_text=_("For a family member the name comes from the release."),
    )
    patient_agreed = forms.BooleanField(
        label=_("The patient agreed to this person joining"),
        required=True,
        error_messages={"required": _("A guest may join only with the patient's agreement.")},
    )

    def __init__(self, *args: Any, releases: list[Any] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["release"].choices = [("", _("— none (interpreter) —"))] + [  # type: ignore[attr-defined]
            (
                r.pk,
                f"{r.recipient_name}"
                + (f" ({r.recipient_relationship})" if r.recipient_relationship else ""),
            )
            for r in releases
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        role = data.get("role")
        if role in NEEDS_RELEASE and not data.get("release"):
            self.add_error("release", _("Choose the patient's release naming this person."))
        if role == GuestRole.INTERPRETER and not (data.get("name") or "").strip():
            self.add_error("name", _("Give the interpreter's first name."))
        return data
