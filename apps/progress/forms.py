"""The check-in form is the one place the check-in's rules live (ranges, choices, the
patient's own "today", the questions other apps add); ``services.checkin_save`` binds it for
every caller, the page included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.progress import selectors
from apps.progress.extensions import checkin_questions_for
from apps.progress.models import SCALE_MAX, SLEEP_HOURS_MAX, DailyCheckIn, SleepQuality

SCALE = [(str(n), str(n)) for n in range(SCALE_MAX + 1)]
YES_NO = [("no", _("No")), ("yes", _("Yes"))]
# What the substance-use questions are stored as outside a substance-use program.
NOT_ASKED: dict[str, Any] = {"craving": None, "used_since_last": None, "used_what": ""}
REQUIRED = _("Please answer this question.")
HOURS = _("Enter the hours you slept, for example 7 or 6.5.")
HOURS_RANGE = _("Hours slept must be between 0 and 24.")
YES_OR_NO = _("Please answer yes or no.")


def _between(low: int, high: int) -> str:
    return gettext("Choose a number from %(low)s to %(high)s.") % {"low": low, "high": high}


_between_lazy = lazy(_between, str)


def _answer(label: Any, choices: Any, low: int, high: int, **kwargs: Any) -> forms.Field:
    return forms.TypedChoiceField(
        label=label,
        choices=choices,
        widget=forms.RadioSelect,
        coerce=int,
        error_messages={"required": REQUIRED, "invalid_choice": _between_lazy(low, high)},
        **kwargs,
    )


class CheckInForm(forms.Form):
    day = forms.DateField(
        label=_("Day"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Today, unless you are catching up on a missed day."),
        error_messages={"invalid": _("Enter a valid date.")},
    )
    mood = _answer(
        _("Mood today"), SCALE, 0, SCALE_MAX, help_text=_("0 = the worst it gets, 10 = the best.")
    )
    anxiety = _answer(
        _("Anxiety today"), SCALE, 0, SCALE_MAX, help_text=_("0 = none, 10 = the most intense.")
    )
    sleep_hours = forms.DecimalField(
        label=_("Hours slept last night"),
        min_value=Decimal(0),
        max_value=SLEEP_HOURS_MAX,
        widget=forms.NumberInput(attrs={"min": 0, "max": 24, "step": 0.5, "inputmode": "decimal"}),
        error_messages={
            "required": HOURS,
            "invalid": HOURS,
            "min_value": HOURS_RANGE,
            "max_value": HOURS_RANGE,
        },
    )
    sleep_quality = _answer(
        _("How well did you sleep?"),
        [(str(v), label) for v, label in SleepQuality.choices],
        SleepQuality.VERY_POOR,
        SleepQuality.VERY_GOOD,
    )
    craving = _answer(
        _("Craving today"), SCALE, 0, SCALE_MAX, help_text=_("0 = none, 10 = the strongest.")
    )
    used_since_last = forms.TypedChoiceField(
        label=_("Used alcohol or drugs since your last check-in?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
        coerce=lambda answer: answer == "yes",
        error_messages={"required": YES_OR_NO, "invalid_choice": YES_OR_NO},
    )
    used_what = forms.CharField(
        label=_("If yes, what? (optional)"),
        required=False,
        max_length=200,
        error_messages={"max_length": _("Keep this under 200 characters.")},
    )
    skills_used = forms.MultipleChoiceField(
        label=_("Skills you used today"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("Choose skills from the list.")},
    )
    note = forms.CharField(
        label=_("Anything else? (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": _("Keep the note under 1,000 characters.")},
    )

    def __init__(
        self, *args: Any, patient: User, now: dt.datetime | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.today = selectors.local_today(patient, now)
        program = selectors.patient_program(patient)
        self.substance_use = bool(program and program.is_substance_use)
        if not self.substance_use:
            for name in NOT_ASKED:
                del self.fields[name]
        # An empty list hides the field; a forged answer is still refused.
        skills = self.fields["skills_used"]
        assert isinstance(skills, forms.MultipleChoiceField)
        skills.choices = [(s.slug, s.title) for s in selectors.skills_for(patient=patient)]
        # Questions other apps add (extensions.register_checkin_question): required once asked.
        self.questions = checkin_questions_for(patient)
        for question in self.questions:
            self.fields[question.key] = forms.ChoiceField(
                label=question.label,
                choices=list(question.choices),
                widget=forms.RadioSelect,
                error_messages={
                    "required": REQUIRED,
                    "invalid_choice": _("Choose one of the answers."),
                },
            )

    def clean_day(self) -> dt.date:
        day: dt.date | None = self.cleaned_data.get("day")
        if day is None:
            return self.today
        if day > self.today:
            raise forms.ValidationError(_("You can't check in for a future date."))
        if (self.today - day).days > selectors.BACKFILL_DAYS:
            raise forms.ValidationError(
                _("Check-ins can be filled in up to %(days)s days back.")
                % {"days": selectors.BACKFILL_DAYS}
            )
        return day

    def clean_sleep_hours(self) -> Decimal:
        hours: Decimal = self.cleaned_data["sleep_hours"]
        if hours != hours.quantize(Decimal("0.1")):
            raise forms.ValidationError(_("Use at most one decimal place, for example 6.5."))
        return hours

    def clean_skills_used(self) -> list[str]:
        return sorted(set(self.cleaned_data["skills_used"]))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.substance_use and not cleaned.get("used_since_last"):
            cleaned["used_what"] = ""  # what was used is asked only after a yes
        return cleaned

    def checkin_values(self) -> dict[str, Any]:
        """The check-in's own fields (day aside), as the model stores them."""
        names = ("mood", "anxiety", "sleep_hours", "sleep_quality", "skills_used", "note")
        values = {name: self.cleaned_data[name] for name in names}
        values.update(
            {name: self.cleaned_data.get(name, empty) for name, empty in NOT_ASKED.items()}
        )
        return values

    def extra_fields(self) -> list[Any]:
        return [self[q.key] for q in self.questions]

    def scale_fields(self) -> list[Any]:
        return [self[name] for name in ("mood", "anxiety", "craving") if name in self.fields]


def checkin_initial(checkin: DailyCheckIn | None, *, day: dt.date) -> dict[str, Any]:
    """The form's starting values: the day, and that day's answers when editing."""
    initial: dict[str, Any] = {"day": day.isoformat()}
    if checkin is not None:
        used = checkin.used_since_last
        initial.update(
            mood=checkin.mood,
            anxiety=checkin.anxiety,
            sleep_hours=f"{checkin.sleep_hours:g}",
            sleep_quality=checkin.sleep_quality,
            craving=checkin.craving,
            used_since_last="" if used is None else ("yes" if used else "no"),
            used_what=checkin.used_what,
            skills_used=checkin.skills_used,
            note=checkin.note,
        )
    return initial


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
        program = self.fields["program"]
        assert isinstance(program, forms.TypedChoiceField)
        program.choices = [("", _("All my programs"))] + [(str(p.pk), p.name) for p in programs]
