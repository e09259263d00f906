"""Two clinicians add the last seat at the same moment: one wins, one gets a clear error.

Needs real concurrent transactions, so it runs on PostgreSQL (SQLite serialises every
write transaction anyway, IMMEDIATE mode, so the race cannot happen there)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from apps.scheduling import services
from apps.scheduling.models import GroupMembership, MembershipStatus
from apps.scheduling.services import memberships
from tests.factories import ProgramFactory, clinician_in, patient_in
from tests.scheduling.factories import make_group

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]


def test_two_clinicians_adding_last_seat_one_wins(monkeypatch):
    program = ProgramFactory()
    first = clinician_in(program, mfa=False)
    second = clinician_in(program, mfa=False)
    group = make_group(program, [first], capacity=1)
    patients = [patient_in(program), patient_in(program)]

    # Widen the window between "count the seats" and "insert": without the group row lock
    # both threads would count 0 members here and both would insert.
    monkeypatch.setattr(memberships, "local_today", _held_open(memberships.local_today, racers=2))
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def add(index: int, by) -> None:
        try:
            barrier.wait()
            results[index] = services.membership_add(group=group, patient=patients[index], by=by)
        except Exception as exc:  # collected and asserted below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=add, args=(0, first)),
        threading.Thread(target=add, args=(1, second)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    outcomes = list(results.values())
    wins = [r for r in outcomes if isinstance(r, GroupMembership)]
    errors = [r for r in outcomes if isinstance(r, Exception)]
    assert len(wins) == 1, outcomes
    assert len(errors) == 1 and isinstance(errors[0], services.GroupFullError), outcomes
    assert "full" in " ".join(errors[0].messages)
    assert GroupMembership.objects.filter(group=group, status=MembershipStatus.ACTIVE).count() == 1


def test_two_waitlist_adds_get_distinct_positions(monkeypatch):
    program = ProgramFactory()
    clinician = clinician_in(program, mfa=False)
    group = make_group(program, [clinician], capacity=1)
    services.membership_add(group=group, patient=patient_in(program), by=clinician)
    patients = [patient_in(program), patient_in(program)]
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def add(index: int) -> None:
        try:
            barrier.wait()
            services.membership_add(
                group=group, patient=patients[index], by=clinician, waitlist_if_full=True
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    positions = sorted(
        GroupMembership.objects.filter(group=group, status="waitlisted").values_list(
            "waitlist_position", flat=True
        )
    )
    assert positions == [1, 2]


def _accept_at_once(offers_and_patients, monkeypatch) -> list[object]:
    # Widen the window between counting seats and taking one.
    racers = len(offers_and_patients)
    monkeypatch.setattr(
        memberships, "local_today", _held_open(memberships.local_today, racers=racers)
    )
    barrier = threading.Barrier(racers)
    results: list[object] = []

    def accept(offer, patient) -> None:
        try:
            barrier.wait()
            results.append(services.seat_offer_accept(offer=offer, by=patient))
        except Exception as exc:  # collected and asserted by the caller
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=pair) for pair in offers_and_patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_two_simultaneous_accepts_never_exceed_capacity(monkeypatch):
    """Two offers out for one seat (say a clinician seated someone by hand meanwhile): both
    patients accept at the same instant; the group's row lock lets exactly one in."""
    from django.utils import timezone

    from apps.scheduling.models import SeatOffer

    program = ProgramFactory()
    clinician = clinician_in(program, mfa=False)
    group = make_group(program, [clinician], capacity=2)
    services.membership_add(group=group, patient=patient_in(program), by=clinician)
    waiting = [patient_in(program), patient_in(program)]
    pairs = []
    for position, patient in enumerate(waiting, start=1):
        # Written directly: the stale state under test cannot be reached through services.
        place = GroupMembership.objects.create(
            group=group,
            patient=patient,
            from_date=group.start_date,
            status="waitlisted",
            waitlist_position=position,
        )
        offer = SeatOffer.objects.create(
            group=group,
            patient=patient,
            membership=place,
            status="offered",
            expires_at=timezone.now() + timezone.timedelta(hours=1),
        )
        pairs.append((offer, patient))
    results = _accept_at_once(pairs, monkeypatch)
    wins = [r for r in results if isinstance(r, GroupMembership)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1 and len(errors) == 1, results
    assert isinstance(errors[0], services.SchedulingError)
    assert "filled" in " ".join(errors[0].messages)
    assert GroupMembership.objects.filter(group=group, status=MembershipStatus.ACTIVE).count() == 2


def test_the_same_offer_accepted_twice_at_once_seats_once(monkeypatch):
    from apps.scheduling.models import SeatOffer

    program = ProgramFactory()
    clinician = clinician_in(program, mfa=False)
    group = make_group(program, [clinician], capacity=1)
    services.membership_add(group=group, patient=patient_in(program), by=clinician)
    patient = patient_in(program)
    services.membership_add(group=group, patient=patient, by=clinician, waitlist_if_full=True)
    services.group_update_series(
        group=group,
        by=clinician,
        series=services.GroupSeries(
            name=group.name,
            kind=group.kind,
            track=group.track,
            rrule=group.rrule,
            start_time=group.start_time,
            duration_minutes=group.duration_minutes,
            start_date=group.start_date,
            capacity=2,
        ),
    )
    offer = services.seat_offer_confirm(offer=SeatOffer.objects.get(), by=clinician)
    results = _accept_at_once([(offer, patient), (offer, patient)], monkeypatch)
    assert sum(isinstance(r, GroupMembership) for r in results) == 1, results
    assert GroupMembership.objects.filter(group=group, patient=patient).count() == 1
    assert GroupMembership.objects.filter(group=group, status=MembershipStatus.ACTIVE).count() == 2


def _held_open(real_today, *, racers: int):
    """``_local_today``, called under the group's row lock just before the seats are counted:
    a racer waits here until another is blocked on that lock (and so cannot count yet) or,
    were there no lock, until every racer has come this far: all then count at once."""
    arrived: set[int] = set()
    everyone = threading.Event()

    def held(*args, **kwargs):
        arrived.add(threading.get_ident())
        if len(arrived) >= racers:
            everyone.set()
        deadline = time.monotonic() + 5  # then on regardless: the assertions tell
        while not (
            everyone.wait(0.02) or _someone_waits_for_a_lock() or time.monotonic() > deadline
        ):
            pass
        return real_today(*args, **kwargs)

    return held


def _someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:  # this thread's own connection, in its transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
