"""The visit page and the small JSON API video.js speaks (join, state, moderate, leave)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core.headers import media_capture_allowed
from apps.core.params import MAX_ID
from apps.rooms.extensions import RoomPageExtra
from apps.video import selectors, services
from apps.video.forms import GuestInviteForm
from apps.video.selectors import SESSION, VISIT, Target

KINDS = (SESSION, VISIT)


def _target(request: HttpRequest, kind: str, pk: int) -> Target | None:
    if kind == SESSION:
        return selectors.session_target(user=request.user, session_id=pk)  # type: ignore[arg-type]
    if kind == VISIT:
        return selectors.visit_target(user=request.user, appointment_id=pk)  # type: ignore[arg-type]
    return None


def _json_target(request: HttpRequest, kind: str, pk: int) -> Target | JsonResponse:
    target = _target(request, kind, pk) if pk <= MAX_ID else None
    if target is None:
        return JsonResponse({"error": _("Not found."), "code": "not_found"}, status=404)
    return target


def _error(exc: services.VideoError) -> JsonResponse:
    return JsonResponse({"error": exc.message, "code": exc.code}, status=exc.status)


# Each join asks Janus two questions; a waiting browser asks every 3 s (20 a minute).
JOINS_PER_MINUTE = 40


def _too_many_joins(user_id: int | str) -> bool:
    key = f"video:joins:{user_id}"
    cache.add(key, 0, timeout=60)
    try:
        return cache.incr(key) > JOINS_PER_MINUTE
    except ValueError:  # expired between add and incr
        return False


@require_POST
@login_required
def join(request: HttpRequest, kind: str, pk: int) -> JsonResponse:
    target = _json_target(request, kind, pk)
    if isinstance(target, JsonResponse):
        return target
    if _too_many_joins(int(target.user.pk) if target.user else 0):
        return JsonResponse(
            {"error": _("Too many tries. Wait a minute, then join again."), "code": "rate"},
            status=429,
        )
    try:
        data = services.video_join(
            target=target,
            location=request.POST.get("location", ""),
            place=request.POST.get("place", ""),
        )
    except services.VideoError as exc:
        return _error(exc)
    return JsonResponse(data)


@require_POST
@login_required
def state(request: HttpRequest, kind: str, pk: int) -> JsonResponse:
    target = _json_target(request, kind, pk)
    if isinstance(target, JsonResponse):
        return target
    return JsonResponse(
        services.video_state(target=target, in_media=request.POST.get("media") == "1")
    )


@require_POST
@login_required
def moderate(request: HttpRequest, kind: str, pk: int) -> JsonResponse:
    target = _json_target(request, kind, pk)
    if isinstance(target, JsonResponse):
        return target
    try:
        services.video_moderate(
            target=target,
            action=request.POST.get("action", ""),
            user_id=_post_id(request, "user_id"),
            seat_id=_post_id(request, "seat_id"),
        )
    except services.VideoError as exc:
        return _error(exc)
    return JsonResponse({"ok": True})


def _post_id(request: HttpRequest, name: str) -> int | None:
    raw = request.POST.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) <= MAX_ID else None


@require_POST
@login_required
def leave(request: HttpRequest, kind: str, pk: int) -> JsonResponse:
    target = _json_target(request, kind, pk)
    if isinstance(target, JsonResponse):
        return target
    services.video_leave(target=target)
    return JsonResponse({"ok": True})


def video_config(request: HttpRequest, target: Target) -> dict[str, Any]:
    """What video.js needs on a room or visit page (no secrets: those come from join)."""
    seat = selectors.seat_of(target)
    args = {"kind": target.kind, "pk": target.pk}
    return {
        "enabled": selectors.video_enabled(),
        "kind": target.kind,
        "host": target.is_host,
        "ask_location": bool(request.user.is_patient),  # type: ignore[union-attr]
        "location": seat.location if seat else "",
        "place": seat.location_place if seat else "",
        "urls": {
            name: reverse(f"video:{name}", kwargs=args)
            for name in ("join", "state", "moderate", "leave")
        },
        "strings": js_strings(),
    }


@require_GET
@login_required
@media_capture_allowed
def visit(request: HttpRequest, appointment_id: int) -> HttpResponse:
    target = selectors.visit_target(user=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    if target is None:
        raise Http404
    appointment = target.appointment
    assert appointment is not None
    context = {
        "appointment": appointment,
        "target": target,
        "opens_at": appointment.join_opens_at,
        "video_config": video_config(request, target) if target.live else None,
        "scripts": VIDEO_SCRIPTS,
        "invite_form": GuestInviteForm() if target.is_host and target.live else None,
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
    config = video_config(request, target)
    return RoomPageExtra(
        template="video/_stage.html",
        context={"video_config": config},
        scripts=VIDEO_SCRIPTS if config["enabled"] else (),
        styles=("css/video.css",),
    )


# --- Guests: a family member or interpreter invited to a visit by a one-time link ----------

GUEST_SESSION_KEY = "video_guest"


@require_POST
@login_required
def guest_invite(request: HttpRequest, appointment_id: int) -> HttpResponse:
    target = selectors.visit_target(user=request.user, appointment_id=appointment_id)  # type: ignore[arg-type]
    if target is None:
        raise Http404
    form = GuestInviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("video:visit", appointment_id=appointment_id)
    try:
        link = services.guest_invite(
            target=target,
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            patient_agreed=form.cleaned_data["patient_agreed"],
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
    config: dict[str, Any] | None = None
    if target.live:
        config = {
            "enabled": selectors.video_enabled(),
            "kind": VISIT,
            "host": False,
            "ask_location": False,
            "location": "",
            "place": "",
            "urls": {
                **{name: reverse(f"video:guest_{name}") for name in ("join", "state", "leave")},
                "moderate": "",
            },
            "strings": js_strings(),
        }
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


def _guest_json(request: HttpRequest) -> Target | JsonResponse:
    target = _guest_target(request)
    if target is None:
        return JsonResponse(
            {"error": _("This invitation is no longer valid."), "code": "closed"}, status=404
        )
    return target


@require_POST
def guest_join(request: HttpRequest) -> JsonResponse:
    target = _guest_json(request)
    if isinstance(target, JsonResponse):
        return target
    assert target.guest is not None
    if _too_many_joins(f"g{target.guest.pk}"):
        return JsonResponse(
            {"error": _("Too many tries. Wait a minute, then join again."), "code": "rate"},
            status=429,
        )
    try:
        return JsonResponse(services.video_join(target=target))
    except services.VideoError as exc:
        return _error(exc)


@require_POST
def guest_state(request: HttpRequest) -> JsonResponse:
    target = _guest_json(request)
    if isinstance(target, JsonResponse):
        return target
    return JsonResponse(
        services.video_state(target=target, in_media=request.POST.get("media") == "1")
    )


@require_POST
def guest_leave(request: HttpRequest) -> JsonResponse:
    target = _guest_json(request)
    if isinstance(target, JsonResponse):
        return target
    services.video_leave(target=target)
    return JsonResponse({"ok": True})
