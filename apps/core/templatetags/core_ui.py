"""Small markup helpers shared by many templates."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

register = template.Library()


@register.simple_tag
def scroll_region() -> SafeString:
    """Attributes for the box around a wide table: on a phone it scrolls sideways, so it must
    take keyboard focus (arrow keys scroll it) and have a name for screen readers.
    ``<div {% scroll_region %} class="table-scroll">``"""
    return format_html(
        'tabindex="0" role="region" aria-label="{}"',
        gettext("Table (scrolls sideways on small screens)"),
    )
