"""Group waitlists move up (issue 29 #4): a freed seat becomes one offer to the first in
line, staff confirm it, the patient is told once and accepts or declines before it expires;
then the next in line is offered. Accepting goes through membership_add (capacity, clash)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.notifications.models import Outbox
from apps.scheduling import services
from apps.scheduling.models import GroupMembership, MembershipStatus, SeatOffer, Session
from tests.factories import clinician_in, patient_in
from tests.scheduling.factories import make_group

pytestmark = pytest.mark.django_db


def _series(group, **changes) -> services.GroupSeries:
    fields = {
        "name": group.name,
        "kind": group.kind,
        "track": group.track,
        "rrule": group.rrule,
        "start_time": group.start_time,
        "duration_minutes": group.duration_minutes,
        "start_date": group.start_date,
        "end_date": group.end_date,
        "capacity": group.capacity,
        "admission": group.admission,
    }
    fields.update(changes)
    return services.GroupSeries(**fields)


@pytest.fixture
def full_group(program, clinician, patient):
    """One seat, taken by ``patient``; two patients waiting, in order."""
    group = make_group(program, [clinician], capacity=1)
    services.membership_add(group=group, patient=patient, by=clinician)
    first, second = patient_in(program, full_name="Fay First"), patient_in(program)
    services.membership_add(group=group, patient=first, by=clinician, waitlist_if_full=True)
    services.membership_add(group=group, patient=second, by=clinician, waitlist_if_full=True)
    return group, first, second


def _offered(group, clinician) -> SeatOffer:
    offer = SeatOffer.objects.get(group=group, status="pending")
    return services.seat_offer_confirm(offer=offer, by=clinician)


def test_raising_capacity_makes_exactly_one_offer_for_the_first_in_line(full_group, clinician):
    group, first, _second = full_group
    assert not SeatOffer.objects.exists()
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = SeatOffer.objects.get()
    assert (offer.patient, offer.status) == (first, "pending")
    # Saving the series again frees nothing more: still one offer.
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    assert SeatOffer.objects.count() == 1


def test_a_member_leaving_makes_exactly_one_offer(full_group, clinician, patient):
    group, first, _second = full_group
    seat = GroupMembership.objects.get(group=group, patient=patient)
    services.membership_end(membership=seat, by=clinician)
    assert list(SeatOffer.objects.values_list("patient", "status")) == [(first.pk, "pending")]


def test_discharge_frees_a_seat_for_an_offer(full_group, patient):
    group, first, _second = full_group
    services.memberships_end_for_patient(patient=patient, on=timezone.localdate())
    assert SeatOffer.objects.get().patient == first


def test_an_offered_seat_counts_as_taken(full_group, clinician, program):
    group, _first, _second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    with pytest.raises(services.GroupFullError):
        services.membership_add(group=group, patient=patient_in(program), by=clinician)


def test_confirm_notifies_the_patient_once_with_no_group_name(full_group, clinician):
    group, first, _second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    assert offer.status == "offered"
    assert offer.expires_at == offer.confirmed_at + dt.timedelta(hours=48)
    rows = Outbox.objects.filter(recipient=first, kind="seat_offered")
    assert rows.count() == rows.values("channel").distinct().count() >= 1
    with pytest.raises(services.SchedulingError, match="already handled"):
        services.seat_offer_confirm(offer=offer, by=clinician)
    assert Outbox.objects.filter(recipient=first, kind="seat_offered").count() == rows.count()

    from apps.notifications.rendering import render

    message = render(kind="seat_offered", recipient=first, payload=rows.first().payload)
    text = " ".join([message.subject, message.body, message.sms])
    assert group.name not in text and "Fay" in " ".join(message.lines)


def test_accept_gives_an_active_seat_and_sessions(full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    membership = services.seat_offer_accept(offer=offer, by=first)
    assert membership.status == MembershipStatus.ACTIVE and membership.waitlist_position is None
    offer.refresh_from_db()
    assert offer.status == "accepted"
    assert GroupMembership.objects.get(patient=second).waitlist_position == 1
    # Accepting twice (double submit) is refused and changes nothing.
    with pytest.raises(services.SchedulingError, match="no longer open"):
        services.seat_offer_accept(offer=offer, by=first)
    assert GroupMembership.objects.filter(group=group, status="active").count() == 2


def test_another_patient_cannot_accept_or_decline(full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    with pytest.raises(services.SchedulingError, match="not yours"):
        services.seat_offer_accept(offer=offer, by=second)
    with pytest.raises(services.SchedulingError, match="not yours"):
        services.seat_offer_decline(offer=offer, by=second)
    with pytest.raises(services.SchedulingError, match="not yours"):
        services.membership_add(group=group, patient=first, by=second, offer=offer)
    assert SeatOffer.objects.get().status == "offered"


def test_an_unconfirmed_offer_cannot_be_accepted(full_group, clinician):
    group, first, _second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = SeatOffer.objects.get()
    with pytest.raises(services.SchedulingError, match="no longer open"):
        services.seat_offer_accept(offer=offer, by=first)


def test_decline_offers_the_seat_to_the_next_in_line(full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    services.seat_offer_decline(offer=offer, by=first)
    assert not GroupMembership.objects.filter(patient=first, group=group).exists()
    nxt = SeatOffer.objects.get(status="pending")
    assert nxt.patient == second
    assert GroupMembership.objects.get(patient=second).waitlist_position == 1


def test_expiry_moves_to_the_back_and_offers_the_next(full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    later = offer.expires_at + dt.timedelta(minutes=1)
    # Not yet due: nothing happens.
    assert services.seat_offers_expire(now=offer.expires_at - dt.timedelta(minutes=1)) == 0
    with pytest.raises(services.SchedulingError, match="expired"):
        services.seat_offer_accept(offer=offer, by=first, now=later)
    assert services.seat_offers_expire(now=later) == 1
    assert services.seat_offers_expire(now=later) == 0  # idempotent
    offer.refresh_from_db()
    assert offer.status == "expired"
    assert SeatOffer.objects.get(status="pending").patient == second
    positions = dict(
        GroupMembership.objects.filter(status="waitlisted").values_list(
            "patient", "waitlist_position"
        )
    )
    assert positions == {second.pk: 1, first.pk: 2}
    with pytest.raises(services.SchedulingError, match="no longer open"):
        services.seat_offer_accept(offer=offer, by=first, now=later)


def test_the_periodic_task_expires_offers(full_group, clinician, settings):
    from apps.scheduling import tasks

    group, _first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    SeatOffer.objects.filter(pk=offer.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert tasks.expire_seat_offers() == 1
    assert SeatOffer.objects.get(status="pending").patient == second
    assert "scheduling-expire-seat-offers" in settings.CELERY_BEAT_SCHEDULE


def test_skip_offers_the_next_and_never_the_skipped_again_at_once(full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    services.seat_offer_skip(offer=SeatOffer.objects.get(), by=clinician)
    nxt = SeatOffer.objects.get(status="pending")
    assert nxt.patient == second
    services.seat_offer_skip(offer=nxt, by=clinician)
    # Both passed over for this seat: no offer until staff ask for one.
    assert not SeatOffer.objects.filter(status="pending").exists()
    assert len(services.seat_offers_fill(group=group, by=clinician)) == 1


def test_removing_a_waitlisted_patient_withdraws_their_offer(full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    services.membership_end(membership=GroupMembership.objects.get(patient=first), by=clinician)
    offer.refresh_from_db()
    assert offer.status == "withdrawn"
    # The patient's notice, if not yet sent, is never sent.
    assert not Outbox.objects.filter(recipient=first, status="pending").exists()
    assert SeatOffer.objects.get(status="pending").patient == second


def test_lowering_capacity_withdraws_offers_it_no_longer_covers(full_group, clinician):
    group, _first, _second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=3))
    assert SeatOffer.objects.filter(status="pending").count() == 2
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    assert SeatOffer.objects.filter(status="pending").count() == 1
    assert SeatOffer.objects.filter(status="withdrawn").count() == 1


def test_accept_applies_the_clash_check(full_group, clinician, program):
    group, first, _second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = _offered(group, clinician)
    other = make_group(
        program, [clinician_in(program)], name="Overlap", start_time=dt.time(19), capacity=5
    )
    services.membership_add(group=other, patient=first, by=clinician)
    with pytest.raises(services.SchedulingError, match="already has a group"):
        services.seat_offer_accept(offer=offer, by=first)
    assert GroupMembership.objects.get(group=group, patient=first).status == "waitlisted"


def test_staff_of_another_program_cannot_confirm(full_group, clinician, other_clinician):
    group, _first, _second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    with pytest.raises(services.SchedulingError):
        services.seat_offer_confirm(offer=SeatOffer.objects.get(), by=other_clinician)


# --- Pages --------------------------------------------------------------------------------


@pytest.fixture
def offered(full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    return _offered(group, clinician), first, second


def test_staff_confirm_and_skip_from_the_group_page(client, login, full_group, clinician):
    group, first, second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    login(client, clinician)
    page = client.get(reverse("scheduling:group_detail", args=[group.pk])).content.decode()
    assert "Seat offers" in page and "Confirm offer" in page
    home = client.get(reverse("home")).content.decode()
    assert "Seat offers to confirm" in home
    today = client.get(reverse("scheduling:today")).content.decode()
    assert "Seat offers to confirm" in today
    offer = SeatOffer.objects.get()
    response = client.post(reverse("scheduling:offer_confirm", args=[offer.pk]), {"next": "today"})
    assert response.status_code == 302 and response.url == reverse("scheduling:today")
    offer.refresh_from_db()
    assert offer.status == "offered"
    # Confirming again: a clear message, nothing written.
    response = client.post(reverse("scheduling:offer_confirm", args=[offer.pk]), follow=True)
    assert "already handled" in response.content.decode()


def test_other_programs_staff_and_patients_get_404_on_staff_actions(
    client, login, full_group, clinician, other_clinician
):
    group, first, _second = full_group
    services.group_update_series(group=group, by=clinician, series=_series(group, capacity=2))
    offer = SeatOffer.objects.get()
    for user in (other_clinician, first):
        login(client, user)
        for name in ("scheduling:offer_confirm", "scheduling:offer_skip"):
            assert client.post(reverse(name, args=[offer.pk])).status_code == 404
    client.logout()
    response = client.post(reverse("scheduling:offer_confirm", args=[offer.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response.url
    offer.refresh_from_db()
    assert offer.status == "pending"


def test_patient_accepts_from_my_week_and_sees_the_group(client, login, offered, clinician):
    offer, first, _second = offered
    login(client, first)
    week = client.get(reverse("scheduling:my_week")).content.decode()
    assert "A group seat is open for you" in week and offer.group.name in week
    home = client.get(reverse("home")).content.decode()
    assert "Accept the seat" in home
    url = reverse("scheduling:offer_answer", args=[offer.pk])
    response = client.post(url, {"answer": "accept"}, follow=True)
    assert "You have a seat" in response.content.decode()
    assert GroupMembership.objects.get(patient=first, group=offer.group).status == "active"
    # Double submit: a clear message, still one seat.
    response = client.post(url, {"answer": "accept"}, follow=True)
    assert "no longer open" in response.content.decode()
    assert GroupMembership.objects.filter(patient=first, group=offer.group).count() == 1
    session = Session.objects.filter(group=offer.group, starts_at__gt=timezone.now()).first()
    week = client.get(
        reverse("scheduling:my_week") + f"?week={session.starts_at.date().isoformat()}"
    ).content.decode()
    assert offer.group.name in week


def test_patient_answer_access_and_bad_input(client, login, offered, outsider, clinician):
    offer, first, second = offered
    url = reverse("scheduling:offer_answer", args=[offer.pk])
    for intruder in (second, outsider, clinician):
        login(client, intruder)
        assert client.post(url, {"answer": "accept"}).status_code == 404
    client.logout()
    assert client.post(url, {"answer": "accept"}).status_code == 302  # to the sign-in page
    login(client, first)
    assert client.post(url, {"answer": "maybe"}).status_code == 400
    assert client.post(reverse("scheduling:offer_answer", args=[999999])).status_code == 404
    offer.refresh_from_db()
    assert offer.status == "offered"
    response = client.post(url, {"answer": "decline"}, follow=True)
    assert "declined" in response.content.decode()
    assert SeatOffer.objects.get(status="pending").patient == second
