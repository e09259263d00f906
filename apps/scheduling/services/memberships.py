"""Seats in a group and the waitlist. A freed seat becomes an offer to the head of the
waitlist (``offers_reconcile``); every path here holds the group's row lock while counting
seats."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.notifications.services import notifications_cancel
from apps.scheduling import extensions
from apps.scheduling.models import (
    OFFER_OPEN,
    Group,
    GroupMembership,
    MembershipStatus,
    OfferStatus,
    SeatOffer,
    Session,
)
from apps.scheduling.services.common import (
    GroupFullError,
    SchedulingError,
    group_clash,
    local_today,
    require_staff_of,
)


def _waitlist_renumber(group: Group) -> None:
    waiting = GroupMembership.objects.filter(
        group=group, status=MembershipStatus.WAITLISTED
    ).order_by("waitlist_position", "created_at")
    for position, membership in enumerate(waiting, start=1):
        if membership.waitlist_position != position:
            membership.waitlist_position = position
            membership.save(update_fields=["waitlist_position", "updated_at"])


def waitlist_to_back(membership: GroupMembership) -> None:
    """Move a waitlist place behind everyone else (an offer expired or was skipped)."""
    last = GroupMembership.objects.filter(
        group_id=membership.group_id, status=MembershipStatus.WAITLISTED
    ).aggregate(m=Max("waitlist_position"))["m"]
    membership.waitlist_position = (last or 0) + 1
    membership.save(update_fields=["waitlist_position", "updated_at"])


# Offers that pass a patient over: no automatic offer to them again (staff may offer by hand).
PASSED_OVER = (OfferStatus.SKIPPED, OfferStatus.EXPIRED)


def offer_event_key(offer: SeatOffer) -> str:
    return f"scheduling.seatoffer:{offer.pk}"


def _seats_taken(group: Group) -> int:
    """Active members plus seats held by open offers. Caller holds the group's row lock."""
    active = GroupMembership.objects.filter(group=group, status=MembershipStatus.ACTIVE).count()
    held = SeatOffer.objects.filter(group=group, status__in=OFFER_OPEN).count()
    return active + held


def offer_close(offer: SeatOffer, *, status: str, by: User | None, now: dt.datetime) -> None:
    offer.status = status
    offer.closed_at = now
    offer.closed_by = by
    offer.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
    # A notice not yet sent about an offer that is gone is never sent.
    notifications_cancel(event_key=offer_event_key(offer))
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=offer,
        patient=offer.patient,
        detail=f"seat offer {status}",
    )


def _offers_withdraw_for(membership: GroupMembership, *, by: User | None) -> None:
    for offer in SeatOffer.objects.select_for_update().filter(
        membership=membership, status__in=OFFER_OPEN
    ):
        offer_close(offer, status=OfferStatus.WITHDRAWN, by=by, now=timezone.now())


def offers_reconcile(
    group: Group, *, include_passed_over: bool = False, now: dt.datetime | None = None
) -> list[SeatOffer]:
    """Match open offers to free seats. Each free seat (capacity minus active members minus
    open offers) becomes a pending offer to the next waitlisted patient without one, in
    waitlist order. Patients passed over (an offer skipped by staff or left to expire) are
    offered again only when staff ask (``include_passed_over``), so skipping the only
    patient waiting does not offer them the same seat at once. When capacity fell below
    what offers hold, the newest offers are withdrawn.

    Caller holds the group's row lock: that is what makes "exactly one offer per freed seat"
    hold when two seats free up at once."""
    now = now or timezone.now()
    _waitlist_renumber(group)
    free = group.capacity - _seats_taken(group)
    if free < 0:
        excess = (
            SeatOffer.objects.select_for_update()
            .filter(group=group, status__in=OFFER_OPEN)
            # Unconfirmed offers go first: nobody has been told of them yet.
            .order_by("-status", "-created_at", "-pk")[:-free]
        )
        for offer in list(excess):
            offer_close(offer, status=OfferStatus.WITHDRAWN, by=None, now=now)
        return []
    today = local_today(group.program.time_zone, now)
    if (group.end_date and group.end_date < today) or (
        group.admission == "closed" and group.start_date <= today
    ):
        return []  # takes no new members, so nobody is offered a seat
    if free == 0:
        return []
    waiting = GroupMembership.objects.filter(
        group=group, status=MembershipStatus.WAITLISTED
    ).exclude(Exists(SeatOffer.objects.filter(membership=OuterRef("pk"), status__in=OFFER_OPEN)))
    if not include_passed_over:
        waiting = waiting.exclude(
            Exists(SeatOffer.objects.filter(membership=OuterRef("pk"), status__in=PASSED_OVER))
        )
    waiting = waiting.select_related("patient").order_by("waitlist_position")[:free]
    offers = []
    for membership in waiting:
        offer = SeatOffer.objects.create(
            group=group, patient=membership.patient, membership=membership
        )
        audit_record(
            actor=None,
            action=AuditAction.CREATE,
            obj=offer,
            patient=membership.patient,
            detail="seat offer pending",
        )
        offers.append(offer)
    return offers


def group_locked(group_id: int) -> Group:
    return Group.objects.select_for_update().select_related("program").get(pk=group_id)


@transaction.atomic
def membership_add(
    *,
    group: Group,
    patient: User,
    by: User | None,
    waitlist_if_full: bool = False,
    from_date: dt.date | None = None,
    now: dt.datetime | None = None,
    offer: SeatOffer | None = None,
) -> GroupMembership:
    """Give ``patient`` a seat in ``group`` (or a waitlist place).

    Holds a row lock on the group while counting seats, so two clinicians adding the last
    seat at once cannot both succeed: the second waits for the first to commit, then sees a
    full group and gets ``GroupFullError`` (or the next waitlist place when
    ``waitlist_if_full``). Seats held by open offers count as taken. An open group's new
    member gets every session from their start date on (rolling admission); a closed cohort
    takes members only until it starts.

    ``offer``: the patient (``by``) accepts a seat offered to them; their waitlist place
    becomes the seat, after the same checks (capacity, clash, group still open).
    """
    if offer is None:
        require_staff_of(by, group.program)
    elif by is None or by.pk != offer.patient_id or patient.pk != offer.patient_id:
        raise SchedulingError(_("This offer is not yours."))
    if not patient.is_patient:
        raise SchedulingError(_("Only patients can be group members."))
    profile = getattr(patient, "patient_profile", None)
    if profile is None or profile.program_id != group.program_id:
        raise SchedulingError(_("The patient is not in this group's program."))
    group = group_locked(group.pk)
    now = now or timezone.now()
    today = local_today(group.program.time_zone, now)
    if group.end_date and group.end_date < today:
        raise SchedulingError(_("This group has ended."))
    if group.admission == "closed" and group.start_date <= today:
        raise SchedulingError(_("This closed group has already started; it takes no new members."))
    start = max(from_date or today, group.start_date)
    if offer is not None:
        return _offer_take_seat(group=group, offer=offer, by=by, start=start, now=now)
    live = GroupMembership.objects.filter(
        group=group,
        patient=patient,
        status__in=[MembershipStatus.ACTIVE, MembershipStatus.WAITLISTED],
    ).first()
    if live is not None:
        if live.status == MembershipStatus.WAITLISTED:
            raise SchedulingError(_("This patient is already on the waitlist."))
        raise SchedulingError(_("This patient is already a member of the group."))
    taken = _seats_taken(group)
    if taken < group.capacity:
        clash = group_clash(
            sessions=Session.objects.filter(group=group, occurrence_date__gte=start),
            people=[patient],
            as_member=True,
        )
        if clash:
            raise SchedulingError(clash)
        membership = GroupMembership.objects.create(
            group=group,
            patient=patient,
            from_date=start,
            status=MembershipStatus.ACTIVE,
            added_by=by,
        )
        extensions.membership_activated(membership=membership, by=by)
        detail = "added"
    elif waitlist_if_full:
        last = GroupMembership.objects.filter(
            group=group, status=MembershipStatus.WAITLISTED
        ).aggregate(m=Max("waitlist_position"))["m"]
        membership = GroupMembership.objects.create(
            group=group,
            patient=patient,
            from_date=start,
            status=MembershipStatus.WAITLISTED,
            waitlist_position=(last or 0) + 1,
            added_by=by,
        )
        detail = "waitlisted"
    else:
        raise GroupFullError(
            _(
                "The group is full (%(n)d of %(cap)d seats, counting seats offered to the "
                "waitlist). Add the patient to the waitlist instead."
            )
            % {"n": taken, "cap": group.capacity}
        )
    audit_record(
        actor=by, action=AuditAction.CREATE, obj=membership, patient=patient, detail=detail
    )
    return membership


def _offer_take_seat(
    *, group: Group, offer: SeatOffer, by: User | None, start: dt.date, now: dt.datetime
) -> GroupMembership:
    """Accept ``offer``: the caller (membership_add) holds the group's row lock, so two
    accepts are counted one after the other and never exceed the capacity."""
    offer = SeatOffer.objects.select_for_update().get(pk=offer.pk)
    if offer.group_id != group.pk:
        raise SchedulingError(_("This offer is not for this group."))
    if offer.status != OfferStatus.OFFERED:
        raise SchedulingError(_("This offer is no longer open."))
    if offer.expires_at is not None and offer.expires_at <= now:
        raise SchedulingError(_("This offer has expired."))
    if offer.membership_id is None:
        raise SchedulingError(_("This offer is no longer open."))
    membership = (
        GroupMembership.objects.select_for_update()
        .filter(pk=offer.membership_id, status=MembershipStatus.WAITLISTED)
        .first()
    )
    if membership is None:
        raise SchedulingError(_("This offer is no longer open."))
    active = GroupMembership.objects.filter(group=group, status=MembershipStatus.ACTIVE).count()
    # The offer's own seat is what it held; only real members can have filled it.
    if active >= group.capacity:
        raise SchedulingError(_("Sorry, this seat has been filled. You stay on the waitlist."))
    clash = group_clash(
        sessions=Session.objects.filter(group=group, occurrence_date__gte=start),
        people=[membership.patient],
        as_member=True,
    )
    if clash:
        raise SchedulingError(clash)
    membership.status = MembershipStatus.ACTIVE
    membership.waitlist_position = None
    membership.from_date = max(membership.from_date, start)
    membership.save(update_fields=["status", "waitlist_position", "from_date", "updated_at"])
    offer_close(offer, status=OfferStatus.ACCEPTED, by=by, now=now)
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=membership,
        patient=membership.patient,
        detail="waitlist -> active (offer accepted)",
    )
    extensions.membership_activated(membership=membership, by=by)
    _waitlist_renumber(group)
    return membership


def end_membership(membership: GroupMembership, *, on: dt.date, by: User | None) -> None:
    _offers_withdraw_for(membership, by=by)
    if membership.status == MembershipStatus.WAITLISTED or membership.from_date > on:
        # Never had a seat on or before ``on``: nothing to keep as history.
        audit_record(
            actor=by,
            action=AuditAction.DELETE,
            obj=membership,
            patient=membership.patient,
            detail=f"{membership.status} removed",
        )
        membership.delete()
        return
    membership.status = MembershipStatus.ENDED
    membership.to_date = on
    membership.waitlist_position = None
    membership.save(update_fields=["status", "to_date", "waitlist_position", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=membership,
        patient=membership.patient,
        detail="ended",
    )


@transaction.atomic
def membership_end(
    *, membership: GroupMembership, by: User | None, on: dt.date | None = None
) -> None:
    """Take a patient out of a group (last day ``on``, default today), or off its waitlist,
    and offer the freed seat to the head of the waitlist (staff confirm the offer)."""
    require_staff_of(by, membership.group.program)
    group = group_locked(membership.group_id)
    membership = GroupMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.status == MembershipStatus.ENDED:
        raise SchedulingError(_("This membership has already ended."))
    today = local_today(group.program.time_zone)
    end_membership(membership, on=on or today, by=by)
    offers_reconcile(group)


@transaction.atomic
def memberships_end_for_patient(*, patient: User, on: dt.date, by: User | None = None) -> int:
    """End all of a patient's live memberships (discharge): seats end after ``on`` (their
    last day), waitlist places (and any seat offered on them) and not-yet-started seats are
    removed, and freed seats are offered to each group's waitlist. Returns how many
    memberships were ended or removed."""
    group_ids = sorted(
        set(
            GroupMembership.objects.filter(
                patient=patient,
                status__in=[MembershipStatus.ACTIVE, MembershipStatus.WAITLISTED],
            ).values_list("group_id", flat=True)
        )
    )
    count = 0
    # Lock groups in id order so two discharges cannot deadlock.
    for group in (
        Group.objects.select_for_update()
        .select_related("program")
        .filter(pk__in=group_ids)
        .order_by("pk")
    ):
        require_staff_of(by, group.program)
        for membership in GroupMembership.objects.select_for_update().filter(
            group=group,
            patient=patient,
            status__in=[MembershipStatus.ACTIVE, MembershipStatus.WAITLISTED],
        ):
            end_membership(membership, on=on, by=by)
            count += 1
        offers_reconcile(group)
    return count
