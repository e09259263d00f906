"""On a 360 px phone the page frame leaves room for the page: one line of crisis help, and the
navigation behind a Menu button that works by keyboard and tells screen readers its state."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_patient_on_a_phone_gets_a_menu_button_and_a_one_line_banner(
    live_server, new_page, browser_login, patient, artifacts_dir
):
    page = new_page(phone=True)
    browser_login(page, live_server.url, patient.email, PASSWORD)
    page.goto(live_server.url + "/")
    banner = page.get_by_role("complementary", name="Crisis help")
    expect(
        banner.get_by_role("link", name="Call 988, the Suicide and Crisis Lifeline")
    ).to_be_visible()
    expect(banner.get_by_role("link", name="My crisis plan")).to_be_visible()
    # The whole line fits: nothing scrolls sideways at 360 px.
    assert page.evaluate(
        "() => { const p = document.querySelector('.crisis-banner'); return p.scrollWidth <= p.clientWidth; }"
    )
    line = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('.crisis-banner p')).lineHeight)"
    )
    assert banner.bounding_box()["height"] <= line * 1.5 + 12  # one line, with its padding
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("link", name="My week", exact=True)).to_be_hidden()
    header = page.locator(".site-header").bounding_box()
    assert header["height"] < 90, header
    # By keyboard: the button opens the menu and moves focus into it; Escape closes it.
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("link", name="My week", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link").first).to_be_focused()
    page.screenshot(path=str(artifacts_dir / "phone-menu-open.png"), full_page=True)
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()


def test_a_wide_screen_lists_the_navigation_without_a_menu_button(
    live_server, new_page, browser_login, patient
):
    page = new_page()
    browser_login(page, live_server.url, patient.email, PASSWORD)
    page.goto(live_server.url + "/")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("link", name="My week", exact=True)).to_be_visible()
