"""Seat offers: staff confirm or skip; the patient accepts or declines."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts.http import AuthenticatedHttpRequest, patient_required, staff_required
from apps.scheduling import selectors, services
from apps.scheduling.views.common import error_text

_STAFF_NEXT = {"today": "scheduling:today", "home": "home"}


@staff_required
@require_POST
def offer_staff_action(
    request: AuthenticatedHttpRequest, offer_id: int, action: str
) -> HttpResponse:
    """Confirm a pending seat offer (the patient is told) or skip the patient for it."""
    user = request.user
    offer = selectors.seat_offer_get_for_staff(user=user, offer_id=offer_id)
    if offer is None:
        raise Http404
    try:
        if action == "confirm":
            services.seat_offer_confirm(offer=offer, by=user)
            messages.success(
                request, _("Seat offered to %(name)s.") % {"name": offer.patient.full_name}
            )
        else:
            services.seat_offer_skip(offer=offer, by=user)
            messages.success(
                request,
                _("%(name)s was skipped and moved to the back of the waitlist.")
                % {"name": offer.patient.full_name},
            )
    except services.SchedulingError as exc:
        messages.error(request, error_text(exc))
    target = _STAFF_NEXT.get(request.POST.get("next", ""))
    if target:
        return redirect(target)
    return redirect("scheduling:group_detail", group_id=offer.group_id)


@staff_required
@require_POST
def group_offers_fill(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    user = request.user
    group = selectors.group_get_for_staff(user=user, group_id=group_id)
    if group is None:
        raise Http404
    try:
        made = services.seat_offers_fill(group=group, by=user)
    except services.SchedulingError as exc:
        messages.error(request, error_text(exc))
    else:
        if made:
            messages.success(request, _("Free seats are ready to offer: confirm each below."))
        else:
            messages.info(request, _("No free seat, or nobody waiting without an offer."))
    return redirect("scheduling:group_detail", group_id=group.pk)


@patient_required
@require_POST
def offer_answer(request: AuthenticatedHttpRequest, offer_id: int) -> HttpResponse:
    """The patient accepts or declines a seat offered to them."""
    patient = request.user
    offer = selectors.seat_offer_get_for_patient(user=patient, offer_id=offer_id)
    if offer is None:
        raise Http404
    answer = request.POST.get("answer")
    if answer not in ("accept", "decline"):
        return HttpResponseBadRequest(_("Choose accept or decline."))
    try:
        if answer == "accept":
            services.seat_offer_accept(offer=offer, by=patient)
            messages.success(request, _("You have a seat. The group's sessions are on My week."))
        else:
            services.seat_offer_decline(offer=offer, by=patient)
            messages.success(request, _("You declined the seat and left this group's waitlist."))
    except services.SchedulingError as exc:
        messages.error(request, error_text(exc))
    return redirect("home" if request.POST.get("next") == "home" else "scheduling:my_week")
