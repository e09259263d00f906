"""Text from users: one rule for which characters may reach the database.

PostgreSQL refuses NUL in text, and the other C0 control characters are never typed: a
value holding one is refused whole (never silently cleaned), with ``INVALID_TEXT_MESSAGE``.
Tab, newline and carriage return (browsers send CR LF from a textarea) are allowed.
Used by ``ControlCharacterMiddleware`` (every query string, form and JSON body) and by the
WebSocket consumers (every frame), so no text path is left to each view.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

INVALID_TEXT_CODE = "invalid_text"
INVALID_TEXT_MESSAGE = _(
    "The text contains a control character (such as a NUL byte) that cannot be saved. "
    "Remove it and try again."
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def has_control_chars(value: str) -> bool:
    """Does ``value`` hold a C0 control character other than tab, newline or CR?"""
    return _CONTROL.search(value) is not None


def json_has_control_chars(value: Any) -> bool:
    """``has_control_chars`` for any string (key or value) inside a decoded JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_control_chars(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


@deconstructible
class NoControlCharactersValidator:
    """A field validator with the same rule, for forms and models."""

    message = INVALID_TEXT_MESSAGE
    code = INVALID_TEXT_CODE

    def __call__(self, value: Any) -> None:
        if isinstance(value, str) and has_control_chars(value):
            raise ValidationError(self.message, code=self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoControlCharactersValidator)

    def __hash__(self) -> int:
        return hash(self.code)


validate_text = NoControlCharactersValidator()
