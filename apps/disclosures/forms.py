from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.disclosures.models import DisclosureKind


class DisclosureForm(forms.Form):
    release = forms.TypedChoiceField(label=_("Under which release"), coerce=int)
    kind = forms.ChoiceField(label=_("What was sent"), choices=DisclosureKind.choices)
    description = forms.CharField(
        label=_("Description"),
        max_length=300,
        help_text=_("e.g. referral letter with the last two PHQ-9 scores"),
    )
    method = forms.CharField(label=_("How it was sent (optional)"), max_length=60, required=False)
    disclosed_at = forms.DateTimeField(
        label=_("When (leave empty for now)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, releases: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["release"].choices = [  # type: ignore[attr-defined]
            (
                r.pk,
                r.recipient_name
                + (f" ({r.recipient_relationship})" if r.recipient_relationship else ""),
            )
            for r in releases
        ]
