from __future__ import annotations

from typing import Any

from django import template

from apps.notifications.selectors import latest_id, unread_count

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: dict[str, Any]) -> int:
    """The signed-in user's unread in-app notifications (0 for anonymous visitors)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return unread_count(user=user)


@register.simple_tag(takes_context=True)
def latest_notification_id(context: dict[str, Any]) -> int:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return latest_id(user=user)


@register.simple_tag
def notifications_poll_seconds() -> int:
    """Seconds between bell polls: only when the channel layer cannot carry a push from a
    Celery worker to the web process (the embedded stack's in-memory layer); 0 otherwise."""
    from django.conf import settings

    backend = str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))
    return 10 if backend.endswith("InMemoryChannelLayer") else 0
