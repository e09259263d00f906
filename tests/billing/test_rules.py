"""The billable-day rules, each at its boundary."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.billing import selectors
from apps.billing.models import Authorization
from apps.billing.reminders import authorization_notices_send
from apps.charting import services as charting
from apps.charting.models import Supervision
from apps.notifications.models import Outbox
from tests.billing.conftest import attend, held, local_day
from tests.factories import PASSWORD, clinician_in

pytestmark = pytest.mark.django_db


def _day(program, session, patient):
    day = local_day(session)
    result = selectors.billable_days(program=program, start=day, end=day, patient_ids=[patient.pk])
    assert len(result.days) == 1
    return result.days[0]


def test_per_diem_minimum_just_met_is_billable(program, clinician, patient, past_sessions):
    held(past_sessions[0], patient, clinician, minutes=180)
    pd = _day(program, past_sessions[0], patient)
    assert pd.billable, pd.reasons
    assert pd.minutes == 180
    [line] = pd.lines
    assert (line.code, line.modifiers, line.place_of_service, line.units) == (
        "S9480",
        ["95"],
        "10",
        1,
    )
    assert line.signers == [clinician.full_name]


def test_per_diem_minimum_just_missed_says_by_how_much(program, clinician, patient, past_sessions):
    held(past_sessions[0], patient, clinician, minutes=179)
    pd = _day(program, past_sessions[0], patient)
    assert not pd.billable
    assert pd.reasons == ["179 of 180 minutes"]


def test_substance_use_program_bills_h0015(program, clinician, patient, past_sessions):
    program.kind = "substance_use"
    program.save(update_fields=["kind"])
    held(past_sessions[0], patient, clinician)
    assert [line.code for line in _day(program, past_sessions[0], patient).lines] == ["H0015"]


def test_an_unsigned_group_note_blocks_the_day(program, clinician, patient, past_sessions):
    held(past_sessions[0], patient, clinician, sign=False)
    pd = _day(program, past_sessions[0], patient)
    assert pd.reasons == ["Group note for Evening Process Group not signed"]


def test_a_session_without_a_note_blocks_the_day(program, clinician, patient, past_sessions):
    attend(past_sessions[0], patient)
    pd = _day(program, past_sessions[0], patient)
    assert pd.reasons == ["Group note for Evening Process Group not written"]


def test_a_pending_cosignature_blocks_the_day_until_given(
    program, clinician, patient, past_sessions
):
    supervisor = clinician_in(program, email="sue@example.test", full_name="Sue Supervisor")
    Supervision.objects.create(program=program, clinician=clinician, supervisor=supervisor)
    note = held(past_sessions[0], patient, clinician)
    pd = _day(program, past_sessions[0], patient)
    assert pd.reasons == ["Group note for Evening Process Group waiting for co-signature"]
    charting.cosign(note=note, by=supervisor, typed_name=supervisor.full_name, secret=PASSWORD)
    pd = _day(program, past_sessions[0], patient)
    assert pd.billable
    assert pd.lines[0].signers == [clinician.full_name, supervisor.full_name]


def _authorize(patient, first: dt.date, last: dt.date, total: int = 10) -> Authorization:
    return Authorization.objects.create(
        patient=patient,
        payer="Acme Health",
        number="A-1",
        authorized=total,
        start_date=first,
        end_date=last,
    )


def test_authorization_window_edges(program, clinician, patient, past_sessions):
    # Three consecutive days, newest first: the window is exactly the older two.
    newest, middle, oldest = past_sessions[0], past_sessions[1], past_sessions[2]
    for session in (newest, middle, oldest):
        held(session, patient, clinician)
    _authorize(patient, local_day(oldest), local_day(middle))
    result = selectors.billable_days(
        program=program, start=local_day(oldest), end=local_day(newest)
    )
    by_day = {d.day: d for d in result.days}
    assert by_day[local_day(oldest)].billable  # first day
    assert by_day[local_day(middle)].billable  # last day
    assert by_day[local_day(newest)].reasons == ["No authorization covers this day"]
    [use] = result.authorizations[patient.pk]
    assert (use.used, use.remaining) == (2, 8)


def test_an_authorization_used_up_refuses_the_next_day(program, clinician, patient, past_sessions):
    for session in past_sessions[:3]:
        held(session, patient, clinician)
    _authorize(patient, local_day(past_sessions[2]), local_day(past_sessions[0]), total=2)
    result = selectors.billable_days(
        program=program, start=local_day(past_sessions[2]), end=local_day(past_sessions[0])
    )
    assert [d.billable for d in result.days] == [True, True, False]
    assert result.days[2].reasons == ["Authorization A-1 used up (2 of 2)"]


def test_no_authorization_on_file_bills_on_the_other_rules(
    program, clinician, patient, past_sessions
):
    held(past_sessions[0], patient, clinician)
    pd = _day(program, past_sessions[0], patient)
    assert pd.billable and "No authorization on file" in pd.warnings


def test_eighty_percent_warning_and_notice(program, clinician, patient, past_sessions):
    for session in past_sessions[:4]:
        held(session, patient, clinician)
    today = timezone.localdate()
    auth = _authorize(patient, today - dt.timedelta(days=20), today + dt.timedelta(days=20), 5)
    result = selectors.billable_days(
        program=program, start=today - dt.timedelta(days=20), end=today
    )
    [use] = result.authorizations[patient.pk]
    assert use.used == 4 and use.warnings(today) == ["4 of 5 days (per-diem days) used"]
    now = timezone.now()
    assert authorization_notices_send(now=now) >= 1
    keys = set(Outbox.objects.filter(recipient=clinician).values_list("event_key", flat=True))
    assert f"billing.authorization:{auth.pk}/used80" in keys
    assert f"billing.authorization:{auth.pk}/ending" not in keys
    # Sent once: a second pass writes nothing new.
    before = Outbox.objects.count()
    authorization_notices_send(now=now)
    assert Outbox.objects.count() == before


def test_seventy_nine_percent_gives_no_warning(program, clinician, patient, past_sessions):
    for session in past_sessions[:3]:
        held(session, patient, clinician)
    today = timezone.localdate()
    _authorize(patient, today - dt.timedelta(days=20), today + dt.timedelta(days=8), 4)
    result = selectors.billable_days(
        program=program, start=today - dt.timedelta(days=20), end=today
    )
    [use] = result.authorizations[patient.pk]
    assert use.used == 3 and use.warnings(today) == []
    assert use.warnings(today + dt.timedelta(days=1)) == [f"ends {use.authorization.end_date}"]


def test_individual_sessions_take_the_code_of_their_length(program):
    codes = selectors.codes_for(program)
    assert [selectors._code(codes, "individual", m).code for m in (16, 37, 38, 52, 53)] == [
        "90832", "90832", "90834", "90834", "90837"
    ]  # fmt: skip
    assert selectors._code(codes, "individual", 15) is None
