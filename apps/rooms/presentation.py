"""The closed room's transcript as HTML list items, built in Python.

A page holds up to 100 messages; rendering each through template tags (an include, date
filters and translations per message) was about half of the page's time (bench/RESULTS.md,
pages). ``format_html`` escapes every value, as the template did.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _


def system_text(message: dict[str, Any]) -> str:
    """The sentence a system message stands for (the same strings the live page shows)."""
    subject = message.get("subject") or {}
    name = subject.get("name", "")
    texts = {
        "joined": lambda: _("%(name)s joined") % {"name": name},
        "left": lambda: _("%(name)s left") % {"name": name},
        "admitted": lambda: _("%(name)s was let in") % {"name": name},
        "removed": lambda: _("%(name)s was removed from the session") % {"name": name},
        "ending_soon": lambda: _("The session ends in 5 minutes"),
        "ended": lambda: _("The session has ended"),
        "locked": lambda: _("The room is locked"),
        "unlocked": lambda: _("The room is unlocked"),
    }
    text = texts.get(message.get("event") or "")
    return text() if text else ""


def transcript_items(messages: list[dict[str, Any]], *, viewer_id: int | None) -> list[SafeString]:
    """One ``<li>`` per message payload (``selectors.message_payload`` plus ``created_at``);
    times in the active (viewer's) zone."""
    facilitator, removed = _("Facilitator"), _("Message removed by a facilitator")
    items = []
    for m in messages:
        if m["kind"] == "system":
            items.append(
                format_html('<li class="chat-system" id="m-{}">{}</li>', m["id"], system_text(m))
            )
            continue
        author = m["author"] or {}
        classes = "chat-msg"
        if author.get("id") == viewer_id:
            classes += " mine"
        if m["deleted"]:
            classes += " deleted"
        items.append(
            format_html(
                '<li class="{}" id="m-{}">\n'
                '      <p class="chat-meta"><strong>{}</strong>{} <time datetime="{}">{}</time></p>\n'
                '      <p class="chat-body">{}</p>\n'
                "    </li>",
                classes,
                m["id"],
                author.get("name", ""),
                format_html(' <span class="badge">{}</span>', facilitator)
                if author.get("staff")
                else "",
                m["at"],
                date_format(timezone.localtime(m["created_at"]), "H:i"),
                removed if m["deleted"] else m["body"],
            )
        )
    return items
