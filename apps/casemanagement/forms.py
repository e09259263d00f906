from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.casemanagement.models import (
    NeedDomain,
    NeedStatus,
    Referral,
    ReferralStatus,
    Resource,
    ResourceKind,
)

# Far enough for any real appointment or task, near enough that arithmetic never overflows.
DATE_SPAN = dt.timedelta(days=366 * 3)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class DirectoryFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("All kinds")), *ResourceKind.choices], required=False
    )
    area = forms.ChoiceField(label=_("Area served"), required=False)
    q = forms.CharField(label=_("Search"), required=False, max_length=80)

    def __init__(self, *args: Any, areas: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = [("", _("All areas")), *[(a, a) for a in areas]]  # type: ignore[attr-defined]


class ReferralForm(forms.Form):
    resource = forms.ModelChoiceField(
        label=_("Directory entry"),
        queryset=Resource.objects.none(),
        required=False,
        empty_label=_("— none: a named provider below —"),
    )
    kind = forms.ChoiceField(
        label=_("Kind of service"),
        choices=[("", _("As the directory entry")), *ResourceKind.choices],
        required=False,
    )
    provider_name = forms.CharField(
        label=_("Named provider"),
        max_length=200,
        required=False,
        help_text=_("When the provider is not in the directory."),
    )
    provider_contact = forms.CharField(label=_("Provider contact"), max_length=200, required=False)
    reason = forms.CharField(
        label=_("Reason (the patient sees this)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    staff_note = forms.CharField(
        label=_("Staff note (only staff see this)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, resources: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = resources  # type: ignore[attr-defined]
        self.fields["resource"].label_from_instance = (  # type: ignore[attr-defined]
            lambda r: f"{r.get_kind_display()}: {r.name}"
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("resource") and not (data.get("provider_name") or "").strip():
            raise forms.ValidationError(
                _("Choose a directory entry or give the name of a provider.")
            )
        if not data.get("resource") and not data.get("kind"):
            self.add_error("kind", _("Choose the kind of service for a named provider."))
        return data


class TransitionForm(forms.Form):
    to_status = forms.ChoiceField(label=_("Next step"), choices=ReferralStatus.choices)
    expected_status = forms.ChoiceField(choices=ReferralStatus.choices, widget=forms.HiddenInput)
    occurred_on = forms.DateField(label=_("On"), widget=DateInput())
    appointment_at = forms.DateTimeField(
        label=_("Appointment (date and time)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Needed for “Appointment made”."),
    )
    note = forms.CharField(label=_("Note (staff only)"), max_length=300, required=False)

    def __init__(self, *args: Any, referral: Referral, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial", {"expected_status": referral.status, "occurred_on": timezone.localdate()}
        )
        super().__init__(*args, **kwargs)
        nxt = referral.next_statuses
        self.fields["to_status"].choices = [  # type: ignore[attr-defined]
            (value, label) for value, label in ReferralStatus.choices if value in nxt
        ] or ReferralStatus.choices
        if ReferralStatus.APPOINTMENT_MADE not in nxt:
            del self.fields["appointment_at"]  # asked for only when it can be the next step

    def clean_occurred_on(self) -> dt.date:
        day: dt.date = self.cleaned_data["occurred_on"]
        if abs(day - timezone.localdate()) > DATE_SPAN:
            raise forms.ValidationError(_("Enter a date within the last three years."))
        return day

    def clean_appointment_at(self) -> dt.datetime | None:
        when: dt.datetime | None = self.cleaned_data.get("appointment_at")
        if when is not None and abs(when - timezone.now()) > DATE_SPAN:
            raise forms.ValidationError(_("Enter a date within three years of today."))
        return when


class NeedForm(forms.Form):
    domain = forms.ChoiceField(label=_("Domain"), choices=NeedDomain.choices)
    description = forms.CharField(
        label=_("Need or goal"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class NeedStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=NeedStatus.choices)


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=200)
    assignee = forms.TypedChoiceField(label=_("For"), coerce=int)
    due_date = forms.DateField(label=_("Due"), required=False, widget=DateInput())

    def __init__(self, *args: Any, assignees: list[tuple[User, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.people = {u.pk: u for u, _label in assignees}
        self.fields["assignee"].choices = [(u.pk, label) for u, label in assignees]  # type: ignore[attr-defined]

    def clean_due_date(self) -> dt.date | None:
        day: dt.date | None = self.cleaned_data.get("due_date")
        if day is not None and abs(day - timezone.localdate()) > DATE_SPAN:
            raise forms.ValidationError(_("Enter a date within three years of today."))
        return day

    def clean_assignee(self) -> User:
        return self.people[self.cleaned_data["assignee"]]
