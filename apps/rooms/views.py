"""The room page: the live chat (rooms.js over the socket) or, once closed, the history."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.core import fragments
from apps.core.headers import media_capture_allowed
from apps.core.params import query_int
from apps.rooms import presentation, selectors, services
from apps.rooms.extensions import room_page_extras
from apps.rooms.models import MAX_BODY_CHARS, MAX_PIN_CHARS
from apps.rooms.protocol import MAX_MUTE_MINUTES
from apps.rooms.selectors import Phase
from apps.scheduling.models import Session


@require_GET
@login_required
@media_capture_allowed
def room(request: HttpRequest, session_id: int) -> HttpResponse:
    user = request.user
    access = selectors.room_access(user=user, session_id=session_id)  # type: ignore[arg-type]
    if access is None:
        raise Http404
    session = access.session
    room_obj = selectors.room_of(access)
    phase = selectors.room_phase(session=session, room=room_obj)
    context = {
        "session": session,
        "group": session.group,
        "access": access,
        "phase": phase,
        "opens_at": session.starts_at - selectors.open_before(),
        "max_body": MAX_BODY_CHARS,
        "max_pin": MAX_PIN_CHARS,
        "max_mute": MAX_MUTE_MINUTES,
    }
    if not access.may_read_history:
        return render(request, "rooms/removed.html", context, status=403)
    if phase == Phase.EXPIRED:
        raise Http404
    if phase == Phase.LIVE and access.may_join_live:
        context["room_config"] = {
            "ws_path": f"/ws/rooms/{session.pk}/",
            "session_id": session.pk,
            "me": user.pk,
            "facilitator": access.is_facilitator,
            "tz": timezone.get_current_timezone_name(),
            "strings": js_strings(),
        }
        extras = room_page_extras(request, session)
        context["room_extras"] = extras
        for extra in extras:
            context.update(extra.context)
        return render(request, "rooms/room.html", context)
    if phase in (Phase.ENDED, Phase.LIVE):
        before = query_int(request, "before", minimum=1)
        if phase == Phase.LIVE or room_obj is None:
            context.update(_transcript(user, access, before))
            return render(request, "rooms/history.html", context)
        # A closed room's transcript changes only by moderation (a message or the room row
        # saved: rooms.room:<id>) or a session edit; author names by the minute's expiry.
        missed = []

        def render_transcript() -> str:
            missed.append(True)
            return fragments.render_fragment(
                "rooms/partials/transcript.html", _transcript(user, access, before), request
            )

        context["transcript_html"] = fragments.cached(
            request,
            "rooms:history",
            scopes=[
                fragments.scope("rooms.room", room_obj.pk),
                fragments.scope(Session, session.pk),
            ],
            vary=[session.pk, before],
            render=render_transcript,
        )
        if not missed:  # a miss was recorded by room_transcript_read; a hit must be too
            services.room_transcript_viewed(viewer=user, room=room_obj)  # type: ignore[arg-type]
        context["room"] = room_obj
        return render(request, "rooms/history.html", context)
    return render(request, "rooms/closed.html", context)


def _transcript(user: Any, access: Any, before: int | None) -> dict[str, Any]:
    """The transcript page's context; reads by staff are audited (room_transcript_read)."""
    room_obj, messages, more = services.room_transcript_read(
        viewer=user, access=access, before=before
    )
    # created_at as a datetime: shown in the viewer's zone.
    payloads = [{**selectors.message_payload(m), "created_at": m.created_at} for m in messages]
    return {
        # Not "messages": that name is django.contrib.messages' in base.html, which
        # printed every payload as a status notice above the page.
        "transcript": presentation.transcript_items(payloads, viewer_id=user.pk),
        "more": more,
        "earliest": messages[0].pk if messages else None,
        "room": room_obj,
    }


def js_strings() -> dict[str, str]:
    """Every string rooms.js shows, translated here ({name}-style placeholders)."""
    return {
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "reconnecting": _("Reconnecting…"),
        "offline": _("Offline — we will reconnect when you are back online"),
        "joined": _("{name} joined"),
        "left": _("{name} left"),
        "admitted": _("{name} was let in"),
        "removed": _("{name} was removed from the session"),
        "ending_soon": _("The session ends in 5 minutes"),
        "ended": _("The session has ended"),
        "locked": _("The room is locked"),
        "unlocked": _("The room is unlocked"),
        "deleted": _("Message removed by a facilitator"),
        "typing": _("{names} is typing…"),
        "typing_many": _("{names} are typing…"),
        "new_message": _("{name}: {body}"),
        "admit": _("Admit"),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "remove": _("Remove"),
        "delete": _("Delete"),
        "facilitator": _("Facilitator"),
        "you": _("(you)"),
        "caught_up": _("caught up"),
        "behind": _("has unread messages"),
        "hand_raised": _("hand raised"),
        "raised_hand": _("{name} raised a hand"),
        "raise_hand": _("Raise hand"),
        "lower_hand": _("Lower hand"),
        "muted": _("muted"),
        "muted_you": _("A facilitator has muted you until {time}."),
        "unmuted_you": _("You can send messages again."),
        "removed_you": _("You have been removed from this session."),
        "room_closed": _("The session has ended. The chat is now read-only."),
        "not_sent": _("not sent yet"),
        "risk": _("{name} wrote a message that may signal a crisis"),
        "view_message": _("View message"),
        "crisis_plan": _("Crisis plan"),
        "review_flag": _("Review and acknowledge the safety flag"),
        "confirm_remove": _("Remove {name} from this session?"),
        "nobody_waiting": _("Nobody is waiting."),
        "error": _("Could not do that: {message}"),
    }
