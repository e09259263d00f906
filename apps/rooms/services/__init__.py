"""Writes for live rooms. Every entry point (the consumer, views, demo data) calls these.

Each public service checks access first (``_enter``: the user is still a member or
facilitator, not removed, the room live) and then writes — so a member discharged or
removed mid-session is refused on their very next action. Messages are stored before they
are broadcast: broadcasts go through ``send_event_on_commit``. Every message insert holds
the room's row lock (``_lock_room``), so ids and seqs in a room grow in commit order and
catch-up ("everything after id N") cannot skip a message that committed late. That lock is
the only ordering: broadcasts may still arrive out of order, and a client that sees a seq
it lacks asks for what is missing (``room_sync``).
"""

from apps.rooms.services.access import Entered, room_check, room_get_or_create
from apps.rooms.services.chat import (
    RISK_PHRASES_CACHE_SECONDS,
    TYPING_THROTTLE_SECONDS,
    crisis_plan_url,
    rate_limit,
    rate_window,
    risk_patterns_cached,
    risk_phrase_match,
    risk_phrases_changed,
    room_hand,
    room_history,
    room_message_post,
    room_read,
    room_sync,
    room_transcript_read,
    room_transcript_viewed,
    room_typing,
)
from apps.rooms.services.errors import RoomClosed, RoomError, RoomForbidden
from apps.rooms.services.moderation import (
    room_admit,
    room_admit_all,
    room_end,
    room_lock,
    room_member_mute,
    room_member_remove,
    room_message_delete,
    room_pin,
)
from apps.rooms.services.presence import (
    ENDING_NOTICE_BEFORE,
    left_after,
    room_announce_departures,
    room_announce_ending,
    room_connect,
    room_disconnect,
    room_ping,
    room_reap_stale_connections,
    room_welcome,
    rooms_tick,
    welcome_payload,
)

__all__ = [
    "ENDING_NOTICE_BEFORE",
    "Entered",
    "RISK_PHRASES_CACHE_SECONDS",
    "RoomClosed",
    "RoomError",
    "RoomForbidden",
    "TYPING_THROTTLE_SECONDS",
    "crisis_plan_url",
    "left_after",
    "rate_limit",
    "rate_window",
    "risk_patterns_cached",
    "risk_phrase_match",
    "risk_phrases_changed",
    "room_admit",
    "room_admit_all",
    "room_announce_departures",
    "room_announce_ending",
    "room_check",
    "room_connect",
    "room_disconnect",
    "room_end",
    "room_get_or_create",
    "room_hand",
    "room_history",
    "room_lock",
    "room_member_mute",
    "room_member_remove",
    "room_message_delete",
    "room_message_post",
    "room_pin",
    "room_ping",
    "room_read",
    "room_reap_stale_connections",
    "room_sync",
    "room_transcript_read",
    "room_transcript_viewed",
    "room_typing",
    "room_welcome",
    "rooms_tick",
    "welcome_payload",
]
