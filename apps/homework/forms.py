from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.homework.models import Module
from apps.homework.selectors import modules_published


class ModuleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} · {obj.get_skill_area_display()}"


class AssignForm(forms.Form):
    module = ModuleChoiceField(label=_("Module"), queryset=Module.objects.none())
    due_date = forms.DateField(
        label=_("Due date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    note = forms.CharField(
        label=_("Personal note (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The patient sees this with the assignment. It is not sent by e-mail."),
    )

    def __init__(self, *args: Any, sessions: QuerySet[Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["module"].queryset = modules_published()  # type: ignore[attr-defined]
        if sessions is not None:
            self.fields["session"] = forms.ModelChoiceField(
                label=_("After which group session? (optional)"),
                queryset=sessions,
                required=False,
                help_text=_("Shown to members as “after Wednesday's group”."),
            )
            self.fields["session"].label_from_instance = _session_label  # type: ignore[attr-defined]

    def clean_due_date(self) -> dt.date | None:
        due = self.cleaned_data.get("due_date")
        if due is not None and due < timezone.localdate():
            raise forms.ValidationError(_("The due date is in the past."))
        if due is not None and due > timezone.localdate() + dt.timedelta(days=365):
            raise forms.ValidationError(_("The due date is more than a year away."))
        return due


def _session_label(session: Any) -> str:
    local = timezone.localtime(session.starts_at)
    topic = f" · {session.topic}" if session.topic else ""
    return f"{local:%a %d %b, %H:%M}{topic}"


class FeedbackForm(forms.Form):
    body = forms.CharField(
        label=_("Feedback for the patient"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    reopen = forms.BooleanField(
        label=_("Reopen for more work (the patient can change answers and submit again)"),
        required=False,
    )
