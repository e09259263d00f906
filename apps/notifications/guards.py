"""Send-time checks: the last word on whether a due row should still go out.

A reminder row is written hours or days ahead; by the time it is due the session may be
cancelled, moved or the membership ended, a safety flag acknowledged. A guard registered
for an event-key prefix returns a reason to skip (the row is then cancelled with that
reason) or ``None`` to send. Guards read; they never write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apps.notifications.models import Outbox

logger = logging.getLogger(__name__)

Guard = Callable[[Outbox], str | None]
_guards: dict[str, tuple[str, Guard]] = {}


def register(*, name: str, prefix: str, guard: Guard) -> None:
    """Run ``guard`` for rows whose event key starts with ``prefix``."""
    _guards[name] = (prefix, guard)


def reason_to_skip(row: Outbox) -> str | None:
    for prefix, guard in list(_guards.values()):
        if row.event_key.startswith(prefix):
            reason = guard(row)
            if reason:
                return reason
    return None
