"""Notifications to a person without an account, such as a family member a patient named in a
release of information (``models.OUTSIDE_KINDS``).

The outbox row's recipient is the patient the notice is about: their first name and time
zone word it, their account being active lets it go; their own preferences do not apply.
The app that holds the patient's consent registers, for each such kind:

- ``address(row)``: where the e-mail goes, read at send time (None: nothing is sent);
- ``at_hand_over(row)``: the last word, in the same transaction that marks the row handed
  over to the mail provider (``dispatch._hand_over``), so it can hold the consent's row lock
  and record the disclosure once; returns a reason to stop (the row is cancelled) or None;
- ``extra_lines(row)``: lines the e-mail must carry (a legal notice), after the text.

Guards (``apps.notifications.guards``) still run first, as for every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.notifications.models import Outbox


@dataclass(frozen=True)
class OutsideRecipient:
    address: Callable[[Outbox], str | None]
    at_hand_over: Callable[[Outbox], str | None]
    extra_lines: Callable[[Outbox], list[str]]


_kinds: dict[str, OutsideRecipient] = {}


def register(
    *,
    kind: str,
    address: Callable[[Outbox], str | None],
    at_hand_over: Callable[[Outbox], str | None],
    extra_lines: Callable[[Outbox], list[str]] | None = None,
) -> None:
    _kinds[kind] = OutsideRecipient(
        address=address, at_hand_over=at_hand_over, extra_lines=extra_lines or (lambda row: [])
    )


def unregister(kind: str) -> None:
    _kinds.pop(kind, None)


def for_kind(kind: str) -> OutsideRecipient | None:
    return _kinds.get(kind)
