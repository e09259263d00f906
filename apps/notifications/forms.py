from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.notifications.models import CLINICIAN_KINDS, OUTSIDE_KINDS, Channel, Kind
from apps.notifications.selectors import MANDATORY_CHANNELS
from apps.notifications.services import REMINDER_LEAD_CHOICES


def kinds_for_role(role: str) -> list[str]:
    if role == "patient":
        return [
            k
            for k in Kind.values
            if k not in CLINICIAN_KINDS and k not in OUTSIDE_KINDS and k != Kind.GENERAL
        ]
    # Staff are written to as well (secure messaging), so they choose that kind's channels too.
    return [k for k in Kind.values if k in CLINICIAN_KINDS or k == Kind.NEW_MESSAGE]


def _lead_label(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return str(_("%(n)d day before") if days == 1 else _("%(n)d days before")) % {"n": days}
    if minutes % 60 == 0:
        hours = minutes // 60
        return str(_("%(n)d hour before") if hours == 1 else _("%(n)d hours before")) % {"n": hours}
    return str(_("%(n)d minutes before")) % {"n": minutes}


def field_name(kind: str, channel: str) -> str:
    return f"pref__{kind}__{channel}"


class PreferencesForm(forms.Form):
    """One checkbox per kind and channel, plus quiet hours, lead times and check-in time."""

    quiet_enabled = forms.BooleanField(label=_("Quiet hours"), required=False)
    quiet_start = forms.TimeField(
        label=_("From"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_end = forms.TimeField(
        label=_("Until"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    reminder_leads = forms.TypedMultipleChoiceField(
        label=_("Remind me before each session"),
        choices=[(m, _lead_label(m)) for m in REMINDER_LEAD_CHOICES],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    checkin_time = forms.TimeField(
        label=_("Daily check-in reminder at"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=_("Leave empty for no daily reminder."),
    )

    def __init__(self, *args: Any, role: str, prefs: dict[tuple[str, str], bool], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.role = role
        self.kinds = kinds_for_role(role)
        self.rows: list[dict[str, Any]] = []
        for kind in self.kinds:
            cells = []
            for channel in Channel.values:
                name = field_name(kind, channel)
                locked = channel in MANDATORY_CHANNELS.get(kind, frozenset())
                self.fields[name] = forms.BooleanField(
                    label=f"{Kind(kind).label}: {Channel(channel).label}",
                    required=False,
                    initial=prefs.get((kind, channel), False),
                    disabled=locked,
                )
                cells.append({"name": name, "locked": locked})
            self.rows.append({"kind": kind, "label": Kind(kind).label, "cells": cells})
        if role != "patient":
            del self.fields["reminder_leads"]
            del self.fields["checkin_time"]

    def table_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "label": row["label"],
                "cells": [{"field": self[c["name"]], "locked": c["locked"]} for c in row["cells"]],
            }
            for row in self.rows
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("quiet_enabled"):
            if not data.get("quiet_start") or not data.get("quiet_end"):
                raise forms.ValidationError(_("Give both ends of the quiet hours."))
            if data["quiet_start"] == data["quiet_end"]:
                raise forms.ValidationError(_("Quiet hours must start and end at different times."))
        return data

    def choices(self) -> dict[tuple[str, str], bool]:
        out = {}
        for kind in self.kinds:
            for channel in Channel.values:
                name = field_name(kind, channel)
                if not self.fields[name].disabled:
                    out[(kind, channel)] = bool(self.cleaned_data.get(name))
        return out


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code from the text message"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("Enter the 6 digits from the text message.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
