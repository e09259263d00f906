"""The adherence question in the daily check-in, asked only of patients with an active
medication. Registered with progress (below), which asks it and hands the answer back here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.medications import selectors, services
from apps.medications.models import Adherence
from apps.progress.extensions import CheckInQuestion, register_checkin_question

KEY = "medications_taken"


def _asks(patient: User) -> bool:
    return selectors.has_active_medications(patient=patient)


def _save(*, patient: User, checkin: Any, answer: str) -> None:
    services.adherence_save(patient=patient, checkin=checkin, answer=answer)


def _answer_for(patient: User, day: dt.date) -> str | None:
    return selectors.adherence_answer_for(patient=patient, day=day)


def register() -> None:
    register_checkin_question(
        CheckInQuestion(
            key=KEY,
            order=10,
            label=_("Took my medications as prescribed today?"),
            choices=tuple(Adherence.choices),
            asks=_asks,
            save=_save,
            answer_for=_answer_for,
        )
    )
