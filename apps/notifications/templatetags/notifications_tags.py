from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from apps.notifications.selectors import bell_state

register = template.Library()


@register.simple_tag(takes_context=True)
def notification_bell(context: dict[str, Any]) -> dict[str, int]:
    """The bell's unread count and latest id, in one query (0 and 0 for anonymous visitors)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread": 0, "latest": 0}
    unread, latest = bell_state(user=user)
    return {"unread": unread, "latest": latest}


@register.simple_tag
def notifications_poll_seconds() -> int:
    """Seconds between bell polls: only when the channel layer cannot carry a push from a
    Celery worker to the web process (the embedded stack's in-memory layer); 0 otherwise."""
    backend = str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))
    return 10 if backend.endswith("InMemoryChannelLayer") else 0
