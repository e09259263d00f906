"""Reminders for due measures go through the notifications outbox, once per round."""

from __future__ import annotations

import pytest

from apps.notifications import guards
from apps.notifications.models import Outbox
from apps.progress import selectors, services, tasks
from tests.progress.factories import admit, answers_for, checkin

pytestmark = pytest.mark.django_db


def test_a_due_round_is_reminded_once_and_carries_no_phi(patient, program, outsider):
    admit(patient, program, days_ago=15)
    assert tasks.plan_measure_reminders() >= 1
    rows = list(Outbox.objects.filter(recipient=patient))
    assert rows and {r.kind for r in rows} == {"general"}
    due_on = selectors.measures_due(patient=patient)[0].due_on
    assert {r.event_key for r in rows} == {
        services.measure_due_event_key(patient_id=patient.pk, due_on=due_on)
    }
    assert "PHQ" not in str(rows[0].payload)
    assert tasks.plan_measure_reminders() == 0  # idempotent
    assert not Outbox.objects.filter(recipient=outsider).exists()  # nothing due for them


def test_reminder_is_cancelled_at_send_time_once_done(patient, program):
    admit(patient, program, days_ago=15)
    services.measure_reminders_plan()
    row = Outbox.objects.filter(recipient=patient).first()
    assert guards.reason_to_skip(row) is None
    for code in ("phq9", "gad7"):
        services.repeat_measure_submit(patient=patient, code=code, answers=answers_for(code, 5))
    assert guards.reason_to_skip(row) == "measures already done"


def test_nothing_is_queued_when_nothing_is_due(patient, program):
    admit(patient, program, days_ago=3)
    assert tasks.plan_measure_reminders() == 0


def test_checked_in_on_for_the_nudge(patient):
    c = checkin(patient, days_ago=0)
    assert selectors.checked_in_on(patient_id=patient.pk, day=c.day)
    assert not selectors.checked_in_on(patient_id=patient.pk, day=c.day.replace(year=2020))
