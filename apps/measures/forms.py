"""A Django form built from an instrument definition. Validation and scoring stay in
``scoring`` (via ``measure_submit``); the form only renders and maps errors to fields."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.measures.registry import Instrument
from apps.measures.scoring import AnswersInvalid, clean_answers


class InstrumentForm(forms.Form):
    def __init__(self, *args: Any, instrument: Instrument, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        for number, item in enumerate(instrument.items, 1):
            field = forms.ChoiceField(
                label=f"{number}. {item.text}",
                choices=[(str(c.value), c.label) for c in item.choices],
                widget=forms.RadioSelect,
                required=False,  # required-ness depends on skip logic: decided by scoring
                help_text=str(item.hint),
            )
            self.fields[item.key] = field

    def raw_answers(self) -> dict[str, object]:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return {k: v for k, v in data.items() if v not in (None, "")}

    def is_complete(self) -> bool:
        """Field validation plus the instrument's own rules (required items, skip logic), so
        every problem is shown at once, not one round-trip at a time."""
        valid = self.is_valid()
        try:
            clean_answers(self.instrument, self.raw_answers())
        except AnswersInvalid as exc:
            for key, message in exc.errors.items():
                if key not in self.errors:
                    self.add_error(key if key in self.fields else None, message)
            return False
        return valid

    def add_answer_errors(self, exc: AnswersInvalid) -> None:
        for key, message in exc.errors.items():
            self.add_error(None if key not in self.fields else key, message)

    def items_with_fields(self) -> list[tuple[Any, Any, str]]:
        """(item, bound field, skip-logic JSON naming the inputs it depends on)."""
        out = []
        for item in self.instrument.items:
            ask_if = json.dumps({self.add_prefix(c.key): c.value for c in item.ask_if})
            out.append((item, self[item.key], ask_if if item.ask_if else ""))
        return out


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label=_("Follow-up note"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        help_text=_("What you did: who you spoke with, the plan, when you will check in again."),
    )
