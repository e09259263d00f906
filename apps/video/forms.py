from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.video.models import GuestRole


class GuestInviteForm(forms.Form):
    name = forms.CharField(label=_("Their first name"), max_length=60)
    role = forms.ChoiceField(label=_("They join as"), choices=GuestRole.choices)
    patient_agreed = forms.BooleanField(
        label=_("The patient agreed to this person joining (release of information)"),
        required=True,
        error_messages={"required": _("A guest may join only with the patient's agreement.")},
    )
