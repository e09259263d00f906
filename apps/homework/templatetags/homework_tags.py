from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: Any, key: str) -> Any:
    """``mapping|get:key`` for dict values keyed by content ids."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.simple_tag
def zero_to_ten() -> list[int]:
    return list(range(11))


@register.filter
def get_posted(posted: Any, field_id: str) -> Any:
    """The value typed into a practice-log field, from the rejected post, to show it again."""
    if not hasattr(posted, "get"):
        return None
    return posted.get(f"f-{field_id}")
