"""The visit page and the small JSON API video.js speaks (join, state, moderate, leave)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.http import AuthenticatedHttpRequest
from apps.core.headers import media_capture_allowed
from apps.core.params import MAX_ID, form_int
from apps.enrollment.selectors import releases_active_for
from apps.rooms.extensions import RoomPageExtra
from apps.video import selectors, services
from apps.video.forms import GuestInviteForm
from apps.video.selectors import SESSION, VISIT, Target


def _target(request: AuthenticatedHttpRequest, kind: str, pk: int) -> Target | None:
    if pk > MAX_ID:
        return None
    if kind == SESSION:
        return selectors.session_target(user=request.user, session_id=pk)
    if kind == VISIT:
        return selectors.visit_target(user=request.user, appointment_id=pk)
    return None


def _error(exc: services.VideoError) -> JsonResponse:
    return JsonResponse({"error": exc.message, "code": exc.code}, status=exc.status)


Endpoint = Callable[[HttpRequest, Target], JsonResponse]


def _for_user(endpoint: Endpoint) -> Callable[..., JsonResponse]:
    """``endpoint`` for a signed-in person at /video/<kind>/<id>/…; 404 when not theirs."""

    @functools.wraps(endpoint)
    def view(request: AuthenticatedHttpRequest, kind: str, pk: int) -> JsonResponse:
        target = _target(request, kind, pk)
        if target is None:
            return JsonResponse({"error": _("Not found."), "code": "not_found"}, status=404)
        return endpoint(request, target)

    return require_POST(login_required(view))


def _for_guest(endpoint: Endpoint) -> Callable[..., JsonResponse]:
    """``endpoint`` for the guest this browser's invitation names, at /video/guest/…."""

    @functools.wraps(endpoint)
    def view(request: HttpRequest) -> JsonResponse:
        target = _guest_target(request)
        if target is None:
            return JsonResponse(
                {"error": _("This invitation is no longer valid."), "code": "closed"}, status=404
            )
        return endpoint(request, target)

    return require_POST(view)


def _join(request: HttpRequest, target: Target) -> JsonResponse:
    try:
        data = services.video_join(
            target=target,
            location=request.POST.get("location", ""),
            place=request.POST.get("place", ""),
        )
    except services.VideoError as exc:
        return _error(exc)
    return JsonResponse(data)


def _state(request: HttpRequest, target: Target) -> JsonResponse:
    return JsonResponse(
        services.video_state(target=target, in_media=request.POST.get("media") == "1")
    )


def _moderate(request: HttpRequest, target: Target) -> JsonResponse:
    try:
        services.video_moderate(
            target=target,
            action=request.POST.get("action", ""),
            user_id=form_int(request, "user_id", minimum=1),
            seat_id=form_int(request, "seat_id", minimum=1),
        )
    except services.VideoError as exc:
        return _error(exc)
    return JsonResponse({"ok": True})


def _leave(request: HttpRequest, target: Target) -> JsonResponse:
    services.video_leave(target=target)
    return JsonResponse({"ok": True})


join, state, moderate, leave = (_for_user(e) for e in (_join, _state, _moderate, _leave))
guest_join, guest_state, guest_leave = (_for_guest(e) for e in (_join, _state, _leave))


def video_config(target: Target, *, urls: dict[str, str] | None = None) -> dict[str, Any]:
    """What video.js needs on a room, visit or guest page (no secrets: those come from
    join). ``urls``: the guest's endpoints instead of the signed-in ones."""
    seat = selectors.seat_of(target)
    if urls is None:
        args = {"kind": target.kind, "pk": target.pk}
        urls = {
            name: reverse(f"video:{name}", kwargs=args)
            for name in ("join", "state", "moderate", "leave")
        }
    return {
        "enabled": selectors.video_enabled(),
        "kind": target.kind,
        "host": target.is_host,
        "ask_location": target.is_patient,
        "location": seat.location if seat else "",
        "place": seat.location_place if seat else "",
        "urls": urls,
        "strings": js_strings(),
    }


@require_GET
@login_required
@media_capture_allowed
def visit(request: AuthenticatedHttpRequest, appointment_id: int) -> HttpResponse:
    target = selectors.visit_target(user=request.user, appointment_id=appointment_id)
    if target is None:
        raise Http404
    appointment = target.appointment
    assert appointment is not None
    context = {
        "appointment": appointment,
        "target": target,
        "opens_at": appointment.join_opens_at,
        "video_config": video_config(target) if target.live else None,
        "scripts": VIDEO_SCRIPTS,
        "invite_form": GuestInviteForm(releases=_guest_releases(target))
        if target.is_host and target.live
        else None,
        "guest_link": request.session.pop("video_guest_link", None) if target.is_host else None,
    }
    return render(request, "video/visit.html", context)


def js_strings() -> dict[str, str]:
    return {
        "join": _("Join"),
        "joining": _("Joining…"),
        "waiting": _(
            "You are in the waiting room. You will be let in shortly; keep this page open."
        ),
        "denied": _(
            "Your browser blocked the camera and microphone. Allow them in the address bar, "
            "then try again — or join with audio only."
        ),
        "no_device": _("No camera or microphone was found. You can still join and listen."),
        "device_busy": _("Another app is using your camera or microphone. Close it and try again."),
        "unavailable": _("Video is not available right now. The chat still works."),
        "disabled": _("Video is not available on this server. The chat still works."),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "camera_off": _("Stop camera"),
        "camera_on": _("Start camera"),
        "share": _("Share screen"),
        "stop_share": _("Stop sharing"),
        "leave": _("Leave"),
        "rejoin": _("Join again"),
        "left": _("You left the video. The chat stays open."),
        "muted_by_host": _("The facilitator muted your microphone."),
        "video_stopped_by_host": _("The facilitator stopped your camera."),
        "mute_released": _("The facilitator let you unmute."),
        "removed": _("You have been removed from this session."),
        "ended": _("The session has ended."),
        "quality_good": _("Connection: good"),
        "quality_fair": _("Connection: fair"),
        "quality_poor": _("Connection: poor"),
        "lower_video": _("Your connection is weak: sending lower-quality video."),
        "audio_only": _("Your connection is weak: audio only for now."),
        "restored": _("Your connection recovered."),
        "reconnecting": _("Reconnecting the video…"),
        "speaking": _("speaking"),
        "you": _("You"),
        "someone": _("Someone"),
        "host_mute": _("Mute {name}'s microphone"),
        "host_release_mute": _("Let {name} unmute"),
        "host_stop_video": _("Stop {name}'s camera"),
        "host_release_video": _("Let {name} start their camera"),
        "host_remove": _("Remove {name}"),
        "host_mute_short": _("Mute mic"),
        "host_release_mute_short": _("Allow mic"),
        "host_stop_video_short": _("Stop camera"),
        "host_release_video_short": _("Allow camera"),
        "host_remove_short": _("Remove"),
        "confirm_remove": _("Remove {name} from this session?"),
        "admit": _("Let in"),
        "nobody_waiting": _("Nobody is waiting."),
        "location_home": _("At home"),
        "location_elsewhere": _("Elsewhere: {place}"),
        "pos": _("POS {code}"),
        "muted": _("muted"),
        "error": _("Could not do that: {message}"),
        "facilitator": _("Facilitator"),
        "clinician": _("Clinician"),
        "confirm_end": _("End the visit for everyone?"),
        "lock": _("Lock the visit"),
        "unlock": _("Unlock the visit"),
    }


VIDEO_SCRIPTS = ("vendor/adapter-8.2.0.js", "vendor/janus-1.1.2.js", "js/video.js")


def room_stage(request: HttpRequest, session: Any) -> RoomPageExtra | None:
    """The group room page's video stage (registered with rooms.extensions)."""
    target = selectors.session_target(user=request.user, session_id=session.pk)  # type: ignore[arg-type]
    if target is None:
        return None
    config = video_config(target)
    return RoomPageExtra(
        template="video/_stage.html",
        context={"video_config": config},
        scripts=VIDEO_SCRIPTS if config["enabled"] else (),
        styles=("css/video.css",),
    )


# --- Guests: a family member or interpreter invited to a visit by a one-time link ----------

GUEST_SESSION_KEY = "video_guest"


def _guest_releases(target: Target) -> list[Any]:
    """The active releases of the visit's patient: whom the host may invite as family."""
    if not target.is_host or target.appointment is None:
        return []
    return releases_active_for(patient=target.appointment.patient)


@require_POST
@login_required
def guest_invite(request: AuthenticatedHttpRequest, appointment_id: int) -> HttpResponse:
    target = selectors.visit_target(user=request.user, appointment_id=appointment_id)
    if target is None:
        raise Http404
    releases = _guest_releases(target)
    form = GuestInviteForm(request.POST, releases=releases)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("video:visit", appointment_id=appointment_id)
    try:
        link = services.guest_invite(
            target=target,
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            patient_agreed=form.cleaned_data["patient_agreed"],
            release=next((r for r in releases if r.pk == form.cleaned_data["release"]), None),
        )
    except services.VideoError as exc:
        messages.error(request, exc.message)
        return redirect("video:visit", appointment_id=appointment_id)
    # Shown once, to the clinician; only its hash is kept.
    request.session["video_guest_link"] = link
    return redirect("video:visit", appointment_id=appointment_id)


@require_GET
def guest_redeem(request: HttpRequest, token: str) -> HttpResponse:
    """The link a guest opens: it binds to this browser, then leads to the visit page (whose
    address carries no token)."""
    guest = services.guest_redeem(token=token, session=request.session)
    if guest is None:
        return render(request, "video/guest_invalid.html", status=404)
    request.session[GUEST_SESSION_KEY] = guest.pk
    return redirect("video:guest")


def _guest_target(request: HttpRequest) -> Target | None:
    guest_id = request.session.get(GUEST_SESSION_KEY)
    guest = services.guest_for_session(guest_id=guest_id, session=request.session)
    return selectors.guest_target(guest=guest) if guest is not None else None


@require_GET
def guest(request: HttpRequest) -> HttpResponse:
    target = _guest_target(request)
    if target is None:  # no camera or microphone for a page without a visit
        return render(request, "video/guest_invalid.html", status=404)
    return _guest_page(request, target)


@media_capture_allowed
def _guest_page(request: HttpRequest, target: Target) -> HttpResponse:
    appointment = target.appointment
    assert appointment is not None and target.guest is not None
    config = None
    if target.live:
        urls = {name: reverse(f"video:guest_{name}") for name in ("join", "state", "leave")}
        config = video_config(target, urls={**urls, "moderate": ""})
    return render(
        request,
        "video/guest.html",
        {
            "appointment": appointment,
            "target": target,
            "guest": target.guest,
            "video_config": config,
            "scripts": VIDEO_SCRIPTS,
        },
    )
