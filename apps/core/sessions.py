"""The rules a signed-in session must keep passing, for pages and sockets alike.

core knows no app: accounts registers its rules (MFA for staff, the idle timeout) from its
AppConfig.ready(), and the socket checks here apply whatever is registered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# The session's last activity (seconds since the epoch), kept by pages and sockets.
LAST_SEEN_KEY = "_viop_last_seen"

SessionRule = Callable[[Any, Mapping[str, Any]], bool]
_rules: list[SessionRule] = []


def register_session_rule(rule: SessionRule) -> None:
    """``rule(user, session data)`` is False when the session may no longer be used."""
    if rule not in _rules:
        _rules.append(rule)


def session_allowed(user: Any, data: Mapping[str, Any]) -> bool:
    return all(rule(user, data) for rule in _rules)
