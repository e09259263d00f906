"""Forms render the fields; ``services`` validates them (its messages are put back here)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.medications.models import AllergyKind, Route, Severity, Status


class _ServiceForm(forms.Form):
    client_id = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("client_id", str(uuid.uuid4()))

    def raw(self) -> dict[str, Any]:
        return {name: self.data.get(name, "") for name in self.fields}


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"})


class ReportForm(_ServiceForm):
    """What a patient tells us about a medication they take."""

    name = forms.CharField(
        label=_("Medication name"),
        required=False,
        max_length=400,
        widget=forms.TextInput(attrs={"list": "drug-names", "autocomplete": "off"}),
        help_text=_("Start typing and pick from the list; if it isn't there, type it in full."),
    )
    dose = forms.CharField(label=_("Dose (for example 50 mg)"), required=False, max_length=200)
    route = forms.ChoiceField(
        label=_("How you take it"),
        required=False,
        choices=[("", "—"), *Route.choices],
    )
    frequency = forms.CharField(
        label=_("How often (for example once a day)"), required=False, max_length=200
    )
    outside_prescriber = forms.CharField(
        label=_("Who prescribed it (optional)"), required=False, max_length=400
    )
    start_date = forms.CharField(
        label=_("When you started (optional)"), required=False, widget=_date_input()
    )
    reason = forms.CharField(label=_("What it is for (optional)"), required=False, max_length=400)


class MedicationForm(ReportForm):
    """A clinician's fuller form: status, stop date and an in-house prescriber."""

    status = forms.ChoiceField(label=_("Status"), required=False, choices=Status.choices)
    stop_date = forms.CharField(label=_("Stopped on"), required=False, widget=_date_input())
    prescriber = forms.ChoiceField(label=_("Prescriber in this clinic"), required=False)

    field_order = [
        "name",
        "dose",
        "route",
        "frequency",
        "status",
        "prescriber",
        "outside_prescriber",
        "start_date",
        "stop_date",
        "reason",
    ]

    def __init__(self, *args: Any, prescribers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = _("Medication")
        self.fields["route"].label = _("Route")
        self.fields["frequency"].label = _("Frequency")
        self.fields["outside_prescriber"].label = _("Outside prescriber")
        self.fields["start_date"].label = _("Started on")
        self.fields["reason"].label = _("Reason")
        self.fields["dose"].label = _("Dose")
        choices: list[tuple[str, Any]] = [("", _("— none, or outside prescriber —"))]
        for user in prescribers:
            profile = getattr(user, "clinician_profile", None)
            role = (
                profile.get_prescriber_role_display() if profile and profile.is_prescriber else ""
            )
            choices.append((str(user.pk), f"{user} ({role})" if role else str(user)))
        self.fields["prescriber"].choices = choices  # type: ignore[attr-defined]


class AllergyForm(_ServiceForm):
    substance = forms.CharField(label=_("Substance"), required=False, max_length=400)
    kind = forms.ChoiceField(label=_("Type"), required=False, choices=AllergyKind.choices)
    reaction = forms.CharField(label=_("Reaction"), required=False, max_length=400)
    severity = forms.ChoiceField(label=_("Severity"), required=False, choices=Severity.choices)
