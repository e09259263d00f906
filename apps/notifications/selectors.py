"""Reads for notifications. The access rule lives here: a user sees only their own
notifications, settings and preferences (nobody else's, whatever their role)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import Count, Max, Q, QuerySet

from apps.notifications.models import (
    SAFETY_KINDS,
    Channel,
    Kind,
    Notification,
    NotificationSettings,
    Preference,
)

if TYPE_CHECKING:
    from apps.accounts.models import User

# Which channels are on when the user has not chosen. SMS is only ever used once the phone
# number is verified, and only for time-critical kinds by default.
_SMS_DEFAULT_KINDS = frozenset(
    {
        Kind.SESSION_REMINDER,
        Kind.APPOINTMENT_REMINDER,
        Kind.SESSION_CANCELLED,
        Kind.SESSION_CHANGED,
        # A seat offer lapses after the program's hours (48 h by default): worth a text.
        Kind.SEAT_OFFERED,
        Kind.SAFETY_ALERT,
        Kind.SAFETY_ESCALATION,
    }
)
# Channels a user cannot switch off for a kind (a clinician's safety alerts).
MANDATORY_CHANNELS: dict[str, frozenset[str]] = {
    kind: frozenset({Channel.EMAIL, Channel.IN_APP}) for kind in SAFETY_KINDS
}


def channel_default(*, kind: str, channel: str) -> bool:
    if channel == Channel.SMS:
        return kind in _SMS_DEFAULT_KINDS
    return True


def settings_for(*, user: User) -> NotificationSettings:
    """The user's notification settings (defaults, unsaved, if they never changed any)."""
    found = NotificationSettings.objects.filter(user=user).first()
    return found if found is not None else NotificationSettings(user=user)


def settings_for_users(*, user_ids: Iterable[int]) -> dict[int, NotificationSettings]:
    """``settings_for`` for many users in one query (a batch of deliveries)."""
    ids = set(user_ids)
    found = {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=ids)}
    return {uid: found.get(uid) or NotificationSettings(user_id=uid) for uid in ids}


def preferences_map(*, user: User) -> dict[tuple[str, str], bool]:
    """Every (kind, channel) → enabled for ``user``, explicit choices over defaults."""
    chosen = {
        (p.kind, p.channel): p.enabled
        for p in Preference.objects.filter(user=user).only("kind", "channel", "enabled")
    }
    return _with_defaults(chosen)


def preferences_maps(*, user_ids: Iterable[int]) -> dict[int, dict[tuple[str, str], bool]]:
    """``preferences_map`` for many users in one query (a batch of deliveries)."""
    ids = set(user_ids)
    chosen: dict[int, dict[tuple[str, str], bool]] = {uid: {} for uid in ids}
    for p in Preference.objects.filter(user_id__in=ids).only(
        "user_id", "kind", "channel", "enabled"
    ):
        chosen[p.user_id][(p.kind, p.channel)] = p.enabled
    return {uid: _with_defaults(c) for uid, c in chosen.items()}


def _with_defaults(chosen: dict[tuple[str, str], bool]) -> dict[tuple[str, str], bool]:
    out: dict[tuple[str, str], bool] = {}
    for kind in Kind.values:
        for channel in Channel.values:
            enabled = chosen.get((kind, channel), channel_default(kind=kind, channel=channel))
            if channel in MANDATORY_CHANNELS.get(kind, frozenset()):
                enabled = True
            out[(kind, channel)] = enabled
    return out


def channels_enabled(
    *,
    user: User,
    kind: str,
    prefs: dict[tuple[str, str], bool] | None = None,
    user_settings: NotificationSettings | None = None,
) -> set[str]:
    """Channels ``user`` wants ``kind`` on, leaving out SMS without a verified phone."""
    prefs = prefs if prefs is not None else preferences_map(user=user)
    channels = {c for c in Channel.values if prefs.get((kind, c), False)}
    if Channel.SMS in channels and not (user_settings or settings_for(user=user)).phone_verified:
        channels.discard(Channel.SMS)
    return channels


def notifications_for(*, user: User) -> QuerySet[Notification]:
    """The in-app notifications ``user`` may see: their own."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user)


def notification_get_for_user(*, user: User, notification_id: int) -> Notification | None:
    return notifications_for(user=user).filter(pk=notification_id).first()


def unread_count(*, user: User) -> int:
    return notifications_for(user=user).filter(read_at__isnull=True).count()


def bell_state(*, user: User) -> tuple[int, int]:
    """(unread count, latest id) for the bell every page shows, in one query."""
    found = notifications_for(user=user).aggregate(
        unread=Count("pk", filter=Q(read_at__isnull=True)), latest=Max("pk")
    )
    return found["unread"] or 0, found["latest"] or 0


def notifications_after(*, user: User, after_id: int, limit: int = 5) -> list[Notification]:
    """``user``'s notifications newer than ``after_id`` (for the bell's polling fallback)."""
    return list(notifications_for(user=user).filter(pk__gt=after_id).order_by("-pk")[:limit])
