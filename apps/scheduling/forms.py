"""Input parsing for scheduling pages. Rules live in the services; forms only parse."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.programs.models import Program
from apps.scheduling.curriculum import module_slugs, topics_clean, topics_from_lines
from apps.scheduling.models import (
    Admission,
    AppointmentKind,
    AttendanceStatus,
    GroupKind,
    Track,
    Weekday,
)

DAY_CHOICES = [(str(value), label) for value, label in Weekday.choices]


class GroupSeriesForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.none(), label=_("Program"))
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=GroupKind.choices)
    track = forms.ChoiceField(label=_("Track"), choices=Track.choices)
    days = forms.MultipleChoiceField(
        label=_("Days"),
        choices=DAY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one day of the week.")},
    )
    start_time = forms.TimeField(
        label=_("Start time (program time zone)"), widget=forms.TimeInput(attrs={"type": "time"})
    )
    duration_minutes = forms.IntegerField(
        label=_("Length (minutes)"), min_value=15, max_value=600, initial=180
    )
    start_date = forms.DateField(
        label=_("First day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(
        label=_("Last day (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    capacity = forms.IntegerField(label=_("Capacity"), min_value=1, max_value=50, initial=12)
    admission = forms.ChoiceField(label=_("Admission"), choices=Admission.choices)
    facilitators = forms.ModelMultipleChoiceField(
        label=_("Facilitators (one or two)"),
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    curriculum_topics = forms.CharField(
        label=_("Curriculum topics (one per line, optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Sessions take these in turn. To suggest a homework module after a topic, add it "
            "after a bar: “Urge surfing | urge-surfing”."
        ),
    )
    auto_admit_members = forms.BooleanField(
        label=_("Members enter the live room without waiting to be admitted"),
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, programs: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = programs  # type: ignore[attr-defined]
        self.fields["facilitators"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            role="clinician", program_staff__program__in=programs, is_active=True
        ).distinct()
        self.fields["facilitators"].label_from_instance = lambda u: u.full_name  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", _("The last day is before the first day."))
        facilitators = data.get("facilitators")
        if facilitators is not None and not 1 <= len(facilitators) <= 2:
            self.add_error("facilitators", _("Choose one or two facilitators."))
        return data

    def clean_curriculum_topics(self) -> list[dict[str, str]]:
        try:
            return topics_clean(
                topics_from_lines(self.cleaned_data.get("curriculum_topics") or ""),
                known_modules=module_slugs(),
            )
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc

    def topics(self) -> list[dict[str, str]]:
        return list(self.cleaned_data.get("curriculum_topics") or [])


class MemberAddForm(forms.Form):
    patient = forms.ModelChoiceField(queryset=User.objects.none(), label=_("Patient"))
    waitlist = forms.BooleanField(
        label=_("Put on the waitlist if the group is full"), required=False
    )

    def __init__(self, *args: Any, patients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients  # type: ignore[attr-defined]
        self.fields["patient"].label_from_instance = lambda u: u.full_name  # type: ignore[attr-defined]


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason patients will see"),
        max_length=200,
        help_text=_("For example: Clinic holiday. No clinical detail."),
    )


class SessionEditForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(label=_("Start"), widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(label=_("End"), widget=forms.TimeInput(attrs={"type": "time"}))
    topic = forms.CharField(label=_("Topic"), max_length=200, required=False)
    facilitator = forms.ModelChoiceField(
        label=_("Covering facilitator (this session only)"),
        queryset=User.objects.none(),
        required=False,
    )

    def __init__(self, *args: Any, clinicians: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["facilitator"].queryset = clinicians  # type: ignore[attr-defined]
        self.fields["facilitator"].label_from_instance = lambda u: u.full_name  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("start_time")
            and data.get("end_time")
            and data["end_time"] <= data["start_time"]
        ):
            self.add_error("end_time", _("The end is before the start."))
        return data

    def times(self) -> tuple[dt.datetime, dt.datetime]:
        tz = timezone.get_current_timezone()
        day = self.cleaned_data["date"]
        return (
            dt.datetime.combine(day, self.cleaned_data["start_time"], tzinfo=tz),
            dt.datetime.combine(day, self.cleaned_data["end_time"], tzinfo=tz),
        )


class AvailabilityWindowForm(forms.Form):
    weekday = forms.TypedChoiceField(label=_("Day"), choices=Weekday.choices, coerce=int)
    start_time = forms.TimeField(label=_("From"), widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(label=_("Until"), widget=forms.TimeInput(attrs={"type": "time"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("start_time")
            and data.get("end_time")
            and data["end_time"] <= data["start_time"]
        ):
            self.add_error("end_time", _("The end is before the start."))
        return data


class AvailabilityExceptionForm(forms.Form):
    date = forms.DateField(label=_("Date away"), widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(
        label=_("From (empty: whole day)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    end_time = forms.TimeField(
        label=_("Until (empty: whole day)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    reason = forms.CharField(label=_("Note (optional)"), max_length=120, required=False)


class AppointmentBookForm(forms.Form):
    patient = forms.ModelChoiceField(queryset=User.objects.none(), label=_("Patient"))
    kind = forms.ChoiceField(label=_("Kind"), choices=AppointmentKind.choices)
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(label=_("Start"), widget=forms.TimeInput(attrs={"type": "time"}))
    duration_minutes = forms.IntegerField(
        label=_("Length (minutes)"), min_value=15, max_value=240, initial=50
    )

    def __init__(self, *args: Any, patients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients  # type: ignore[attr-defined]
        self.fields["patient"].label_from_instance = lambda u: u.full_name  # type: ignore[attr-defined]

    def times(self) -> tuple[dt.datetime, dt.datetime]:
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(
            self.cleaned_data["date"], self.cleaned_data["start_time"], tzinfo=tz
        )
        return start, start + dt.timedelta(minutes=self.cleaned_data["duration_minutes"])


PATIENT_KINDS = [
    (k, label)
    for k, label in AppointmentKind.choices
    if k in {"individual", "medication", "case_management", "family"}
]


class SlotForm(forms.Form):
    """A patient's choice among open slots (the values are ISO UTC start times)."""

    slot = forms.ChoiceField(label=_("Time"), widget=forms.RadioSelect)
    kind = forms.ChoiceField(label=_("Kind"), choices=PATIENT_KINDS, required=False)

    def __init__(
        self, *args: Any, slots: list[tuple[str, str]], with_kind: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slot"].choices = slots  # type: ignore[attr-defined]
        self.fields["slot"].error_messages["invalid_choice"] = _(
            "That time is no longer open. Choose another."
        )
        if not with_kind:
            del self.fields["kind"]
        else:
            self.fields["kind"].required = True

    def starts_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.cleaned_data["slot"])


ATTENDANCE_CHOICES = AttendanceStatus.choices


def parse_roster_post(
    data: Any, patient_ids: list[int], max_minutes: int
) -> tuple[list[tuple[int, str, int]], list[str]]:
    """Read status_<id> and minutes_<id> for every roster patient. Returns rows and errors."""
    rows, errors = [], []
    valid = {value for value, _label in ATTENDANCE_CHOICES}
    for pid in patient_ids:
        status = data.get(f"status_{pid}", "")
        raw_minutes = data.get(f"minutes_{pid}", "").strip()
        if status not in valid:
            errors.append(str(_("Choose an attendance status for every patient.")))
            continue
        try:
            minutes = int(raw_minutes or "0")
        except ValueError:
            errors.append(str(_("Minutes must be a whole number.")))
            continue
        if not 0 <= minutes <= max_minutes:
            errors.append(str(_("Minutes must be between 0 and %(max)d.") % {"max": max_minutes}))
            continue
        rows.append((pid, status, minutes))
    return rows, sorted(set(errors))
