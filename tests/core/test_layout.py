"""The page frame every signed-in page shares: crisis help one tap away, tables that can
be scrolled by keyboard on a phone."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_crisis_banner_numbers_can_be_tapped(client, login, patient):
    body = login(client, patient).get("/").content.decode()
    banner = body[body.index('class="crisis-banner"') :]
    banner = banner[: banner.index("</aside>")]
    assert 'href="tel:988"' in banner and 'href="sms:988"' in banner
    assert 'href="tel:911"' in body  # the footer


def test_wide_tables_are_keyboard_scrollable_regions(client, login, clinician, program):
    from tests.homework.factories import make_group

    make_group(program)
    body = login(client, clinician).get("/schedule/groups/").content.decode()
    boxes = re.findall(r"<div[^>]*class=\"table-scroll[^\"]*\"[^>]*>", body)
    assert boxes
    for box in boxes:
        assert 'tabindex="0"' in box and 'role="region"' in box and "aria-label=" in box
