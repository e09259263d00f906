"""Seat offers: staff confirm or skip, the patient accepts or declines, the periodic task
expires them. Locks the group first, then the offer, as the membership paths do."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.notifications.services import notification_schedule
from apps.scheduling.models import Group, GroupMembership, OfferStatus, SeatOffer
from apps.scheduling.services.common import SchedulingError, local_today, require_staff_of
from apps.scheduling.services.memberships import (
    end_membership,
    group_locked,
    membership_add,
    offer_close,
    offer_event_key,
    offers_reconcile,
    waitlist_to_back,
)


def _offer_locked(offer: SeatOffer) -> tuple[Group, SeatOffer]:
    # Group first, then the offer: the order every offer path takes, so none deadlock.
    group = group_locked(offer.group_id)
    locked = (
        # of=self: the membership join is nullable, and only the offer row needs the lock.
        SeatOffer.objects.select_for_update(of=("self",))
        .select_related("patient", "membership")
        .get(pk=offer.pk)
    )
    return group, locked


@transaction.atomic
def seat_offers_fill(*, group: Group, by: User | None) -> list[SeatOffer]:
    """Offer any free seat to the waitlist now (e.g. after skipping the only patient)."""
    require_staff_of(by, group.program)
    return offers_reconcile(group_locked(group.pk), include_passed_over=True)


@transaction.atomic
def seat_offer_confirm(*, offer: SeatOffer, by: User, now: dt.datetime | None = None) -> SeatOffer:
    """Staff agree the seat goes to this patient: the patient is told (once: the outbox
    dedupes by the offer's event key) and has the program's offer hours to answer."""
    group, offer = _offer_locked(offer)
    require_staff_of(by, group.program)
    if offer.status != OfferStatus.PENDING:
        raise SchedulingError(_("This offer was already handled."))
    now = now or timezone.now()
    offer.status = OfferStatus.OFFERED
    offer.confirmed_by = by
    offer.confirmed_at = now
    offer.expires_at = now + dt.timedelta(hours=group.program.seat_offer_hours)
    offer.save(update_fields=["status", "confirmed_by", "confirmed_at", "expires_at", "updated_at"])
    notification_schedule(
        recipient=offer.patient,
        kind="seat_offered",
        event_key=offer_event_key(offer),
        context={
            "offer_id": offer.pk,
            "group_id": group.pk,
            "expires_at": offer.expires_at,
            "link": reverse("scheduling:my_week"),
        },
    )
    audit_record(
        actor=by, action=AuditAction.TRANSITION, obj=offer, patient=offer.patient, detail="offered"
    )
    return offer


@transaction.atomic
def seat_offer_skip(*, offer: SeatOffer, by: User, now: dt.datetime | None = None) -> SeatOffer:
    """Staff pass this patient over for this seat (before telling them): they go to the back
    of the waitlist and the seat is offered to the next in line."""
    group, offer = _offer_locked(offer)
    require_staff_of(by, group.program)
    if offer.status != OfferStatus.PENDING:
        raise SchedulingError(_("This offer was already handled."))
    now = now or timezone.now()
    offer_close(offer, status=OfferStatus.SKIPPED, by=by, now=now)
    if offer.membership is not None:
        waitlist_to_back(offer.membership)
    offers_reconcile(group, now=now)
    return offer


@transaction.atomic
def seat_offer_accept(
    *, offer: SeatOffer, by: User, now: dt.datetime | None = None
) -> GroupMembership:
    """The patient takes the seat offered to them (through ``membership_add``)."""
    if by.pk != offer.patient_id:
        raise SchedulingError(_("This offer is not yours."))
    return membership_add(group=offer.group, patient=by, by=by, offer=offer, now=now)


@transaction.atomic
def seat_offer_decline(*, offer: SeatOffer, by: User, now: dt.datetime | None = None) -> SeatOffer:
    """The patient says no: they leave this group's waitlist (staff can put them back) and
    the seat is offered to the next in line."""
    if by.pk != offer.patient_id:
        raise SchedulingError(_("This offer is not yours."))
    group, offer = _offer_locked(offer)
    if offer.status != OfferStatus.OFFERED:
        raise SchedulingError(_("This offer is no longer open."))
    now = now or timezone.now()
    offer_close(offer, status=OfferStatus.DECLINED, by=by, now=now)
    if offer.membership is not None:
        end_membership(offer.membership, on=local_today(group.program.time_zone, now), by=by)
    offers_reconcile(group, now=now)
    return offer


def seat_offers_expire(*, now: dt.datetime | None = None) -> int:
    """Close offers past their time (the periodic task): each patient goes to the back of
    the waitlist and the seat is offered to the next in line. One transaction per offer;
    an offer accepted meanwhile is left alone. Returns how many expired."""
    now = now or timezone.now()
    expired = 0
    due = SeatOffer.objects.filter(status=OfferStatus.OFFERED, expires_at__lte=now)
    for offer in list(due.only("pk", "group_id")):
        with transaction.atomic():
            group, offer = _offer_locked(offer)
            if not offer.is_expired(now):
                continue  # answered while we waited for the lock
            offer_close(offer, status=OfferStatus.EXPIRED, by=None, now=now)
            if offer.membership is not None:
                waitlist_to_back(offer.membership)
            offers_reconcile(group, now=now)
            expired += 1
    return expired
