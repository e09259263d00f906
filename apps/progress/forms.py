"""The check-in form renders the fields; ``services.checkin_validate`` is the one place their
rules live (ranges, future dates, the patient's own "today"), and its messages are put back on
the fields here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from apps.progress.models import SleepQuality

SCALE = [(str(n), str(n)) for n in range(11)]
YES_NO = [("no", _("No")), ("yes", _("Yes"))]


class CheckInForm(forms.Form):
    day = forms.CharField(
        label=_("Day"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Today, unless you are catching up on a missed day."),
    )
    mood = forms.CharField(
        label=_("Mood today"),
        required=False,
        widget=forms.RadioSelect(choices=SCALE),
        help_text=_("0 = the worst it gets, 10 = the best."),
    )
    anxiety = forms.CharField(
        label=_("Anxiety today"),
        required=False,
        widget=forms.RadioSelect(choices=SCALE),
        help_text=_("0 = none, 10 = the most intense."),
    )
    sleep_hours = forms.CharField(
        label=_("Hours slept last night"),
        required=False,
        widget=forms.NumberInput(attrs={"min": 0, "max": 24, "step": 0.5, "inputmode": "decimal"}),
    )
    sleep_quality = forms.CharField(
        label=_("How well did you sleep?"),
        required=False,
        widget=forms.RadioSelect(choices=[(str(v), label) for v, label in SleepQuality.choices]),
    )
    craving = forms.CharField(
        label=_("Craving today"),
        required=False,
        widget=forms.RadioSelect(choices=SCALE),
        help_text=_("0 = none, 10 = the strongest."),
    )
    used_since_last = forms.CharField(
        label=_("Used alcohol or drugs since your last check-in?"),
        required=False,
        widget=forms.RadioSelect(choices=YES_NO),
    )
    used_what = forms.CharField(label=_("If yes, what? (optional)"), required=False, max_length=400)
    skills_used = forms.MultipleChoiceField(
        label=_("Skills you used today"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(
        label=_("Anything else? (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}),
        max_length=2000,
    )

    def __init__(
        self,
        *args: Any,
        skills: list[Any],
        substance_use: bool,
        questions: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Questions other apps add (extensions.register_checkin_question); the service checks
        # the answers, the form only renders them.
        self.extra_names: list[str] = []
        for question in questions or []:
            self.fields[question.key] = forms.CharField(
                label=question.label,
                required=False,
                widget=forms.RadioSelect(choices=list(question.choices)),
            )
            self.extra_names.append(question.key)
        self.fields["skills_used"].choices = [(s.slug, s.title) for s in skills]  # type: ignore[attr-defined]
        if not skills:
            del self.fields["skills_used"]
        if not substance_use:
            for name in ("craving", "used_since_last", "used_what"):
                del self.fields[name]
        self.substance_use = substance_use

    def raw(self) -> dict[str, Any]:
        """The submitted values as given, for the service to validate."""
        data = {name: self.data.get(self.add_prefix(name), "") for name in self.fields}
        if "skills_used" in self.fields:
            data["skills_used"] = self.data.getlist(self.add_prefix("skills_used"))  # type: ignore[attr-defined]
        return data

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, messages in exc.message_dict.items():
            self.add_error(key if key in self.fields else None, messages)

    def extra_fields(self) -> list[Any]:
        return [self[name] for name in self.extra_names]

    def scale_fields(self) -> list[Any]:
        return [self[name] for name in ("mood", "anxiety", "craving") if name in self.fields]


class CaseloadFilterForm(forms.Form):
    q = forms.CharField(label=_("Name"), required=False, max_length=100)
    program = forms.TypedChoiceField(
        label=_("Program"), required=False, coerce=int, empty_value=None
    )
    flagged = forms.BooleanField(label=_("Open safety flags only"), required=False)
    below_floor = forms.BooleanField(label=_("Behind on this week's hours"), required=False)
    quiet = forms.BooleanField(label=_("No check-in for 3 days or more"), required=False)
    closed = forms.BooleanField(
        label=_("Include applicants and discharged patients"), required=False
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("flags", _("Needs attention: open flags, then worsening")),
            ("name", _("Name")),
            ("phq9", _("Latest PHQ-9, highest first")),
            ("phq9_change", _("PHQ-9 change, worsening first")),
            ("gad7", _("Latest GAD-7, highest first")),
            ("checkin", _("Longest since check-in")),
            ("hours", _("Fewest hours this week")),
            ("homework", _("Most homework overdue")),
        ],
    )

    def __init__(self, *args: Any, programs: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].choices = [("", _("All my programs"))] + [  # type: ignore[attr-defined]
            (str(p.pk), p.name) for p in programs
        ]
