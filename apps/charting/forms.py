"""Forms built from a note template, and the parts every note has (time, modality, location,
risk, plan goals). A draft may be incomplete; signing checks what the template requires."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.charting.models import PLACE_OF_SERVICE_CHOICES, Modality, Risk
from apps.charting.schema import FieldSpec, TemplateSpec
from apps.scheduling.models import PatientLocation


def _field(spec: FieldSpec) -> forms.Field:
    common: dict[str, Any] = {"label": spec.label, "help_text": spec.help, "required": False}
    if spec.type == "choice":
        return forms.ChoiceField(
            choices=[("", _("Not answered"))] + [(c, c) for c in spec.choices],
            widget=forms.Select,
            **common,
        )
    if spec.type == "multichoice":
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in spec.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    if spec.type == "line":
        return forms.CharField(max_length=min(spec.max_length, 300), **common)
    return forms.CharField(
        max_length=spec.max_length, widget=forms.Textarea(attrs={"rows": 4}), **common
    )


def content_form_class(fields: list[FieldSpec]) -> type[forms.Form]:
    return type("ContentForm", (forms.Form,), {f.id: _field(f) for f in fields})


def missing_required(fields: list[FieldSpec], content: dict[str, Any]) -> list[str]:
    """Labels of required fields left empty."""
    return [f.label for f in fields if f.required and not content.get(f.id)]


def clean_content(fields: list[FieldSpec], data: dict[str, Any]) -> dict[str, Any]:
    """Only the template's fields, as the form cleaned them (blank answers dropped)."""
    return {f.id: data[f.id] for f in fields if data.get(f.id) not in (None, "", [])}


class NoteDetailsForm(forms.Form):
    """When, how and where the session took place, the risk assessment and plan goals."""

    service_date = forms.DateField(
        label=_("Date of service"), widget=forms.DateInput(attrs={"type": "date"})
    )
    start_time = forms.TimeField(
        label=_("Start"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    end_time = forms.TimeField(
        label=_("End"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    modality = forms.ChoiceField(label=_("Modality"), choices=Modality.choices)
    location = forms.ChoiceField(
        label=_("Patient's location"),
        choices=[("", _("Not recorded"))] + list(PatientLocation.choices),
        required=False,
    )
    location_place = forms.CharField(label=_("City and state"), max_length=120, required=False)
    place_of_service = forms.ChoiceField(
        label=_("Place of service"),
        choices=[("", _("Not recorded"))] + PLACE_OF_SERVICE_CHOICES,
        required=False,
    )
    risk = forms.ChoiceField(label=_("Risk"), choices=Risk.choices)
    risk_notes = forms.CharField(
        label=_("Risk assessment"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Ideation, intent, plan, means, protective factors."),
    )
    safety_plan_reviewed = forms.BooleanField(
        label=_("I reviewed the safety plan with the patient"), required=False
    )
    goals = forms.MultipleChoiceField(
        label=_("Treatment plan goals addressed"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(
        self, *args: Any, goal_choices: list[tuple[int, str]] | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        goals = self.fields["goals"]
        assert isinstance(goals, forms.MultipleChoiceField)
        goals.choices = [(str(pk), label) for pk, label in goal_choices or []]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end <= start:
            self.add_error("end_time", _("The end must be after the start."))
        return data


class MemberPartForm(forms.Form):
    """The risk part of one attendee's row on a group note (the template adds the rest)."""

    risk = forms.ChoiceField(label=_("Risk"), choices=Risk.choices, initial=Risk.NONE)
    safety_plan_reviewed = forms.BooleanField(label=_("Safety plan reviewed"), required=False)


def member_form_class(template: TemplateSpec) -> type[forms.Form]:
    return type(
        "MemberForm",
        (MemberPartForm,),
        {f.id: _field(f) for f in template.member_fields},
    )


class SignForm(forms.Form):
    typed_name = forms.CharField(
        label=_("Type your full name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    secret = forms.CharField(
        label=_("Password or authenticator code"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class AddendumForm(SignForm):
    body = forms.CharField(
        label=_("Addendum"), max_length=8000, widget=forms.Textarea(attrs={"rows": 4})
    )

    field_order = ["body", "typed_name", "secret"]


class WithholdForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"))

    def __init__(self, *args: Any, reasons: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        reason = self.fields["reason"]
        assert isinstance(reason, forms.ChoiceField)
        reason.choices = [(r, r) for r in reasons]


class PsychotherapyNoteForm(forms.Form):
    body = forms.CharField(
        label=_("Psychotherapy note"), max_length=20000, widget=forms.Textarea(attrs={"rows": 6})
    )


def combine(day: dt.date, time: dt.time | None, tz: dt.tzinfo) -> dt.datetime | None:
    return dt.datetime.combine(day, time, tzinfo=tz) if time else None
