"""Forms for the diagnoses page. The code field takes whatever the browser sends; the
service checks it against the code set, so a hand-made post cannot save a made-up code."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.diagnoses.models import Rank

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class DiagnosisAddForm(forms.Form):
    q = forms.CharField(
        label=_("Search codes or words"),
        required=False,
        max_length=80,
        help_text=_("For example F33 or major depressive. Billable codes are listed first."),
    )
    code = forms.CharField(
        label=_("ICD-10-CM code"),
        max_length=10,
        error_messages={"required": _("Search, then pick a code from the list.")},
    )
    rank = forms.ChoiceField(
        label=_("Rank"), choices=Rank.choices, initial=Rank.SECONDARY, widget=forms.RadioSelect
    )
    onset_date = forms.DateField(label=_("Onset date"), required=False, widget=DATE)
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class DiagnosisEditForm(forms.Form):
    rank = forms.ChoiceField(label=_("Rank"), choices=Rank.choices, widget=forms.RadioSelect)
    onset_date = forms.DateField(label=_("Onset date"), required=False, widget=DATE)
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ResolveForm(forms.Form):
    resolved_date = forms.DateField(label=_("Resolved on"), widget=DATE, initial=timezone.localdate)


class LevelOfCareForm(forms.Form):
    effective_date = forms.DateField(label=_("Date"), widget=DATE, initial=timezone.localdate)
    text = forms.CharField(
        label=_("Why this patient needs intensive outpatient care"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Symptoms, functioning and risk that weekly therapy would not meet, and what "
            "would allow a step down."
        ),
    )
