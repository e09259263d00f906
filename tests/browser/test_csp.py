"""Every main page, as a patient, a clinician and an admin, in Chromium under the real
Content-Security-Policy: no policy violation and no console error anywhere, and the pages'
scripts still do their work (the room's chat, homework autosave over htmx, the idle-logoff
warning, the bell, print buttons, the admin's widgets, the TOTP QR code)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from conftest import totp_now
from tests.browser.world import admin_pages, clinician_pages, patient_pages
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Reports every violation to the test (the binding is CDP's, so the page's CSP cannot stop it),
# and counts print() calls instead of opening the print dialog.
WATCH_SCRIPT = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.cspViolation({directive: e.violatedDirective, blocked: e.blockedURI,
                       source: e.sourceFile, line: e.lineNumber, sample: e.sample});
});
window.printed = 0;
window.print = function () { window.printed += 1; };
"""


@dataclass
class Watcher:
    """Policy violations, console errors and warnings, and uncaught errors, per page."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.context.expose_binding(
            "cspViolation",
            lambda source, v: self.problems.append(f"{source['page'].url}: CSP {json.dumps(v)}"),
        )
        page.context.add_init_script(WATCH_SCRIPT)
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"{page.url}: console {m.type}: {m.text}")
                if m.type in {"error", "warning"}
                else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"{page.url}: error: {e}"))
        return page


def visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    assert "content-security-policy" in response.headers, url
    page.wait_for_load_state("load")  # deferred scripts have run
    page.evaluate("1")  # a round trip: violations and console messages so far have arrived


def check_csp_is_enforced(page: Page, watcher: Watcher) -> None:
    """An injected inline script and inline handler are refused, and the watcher hears it."""
    ran = page.evaluate(
        """() => {
          window.injected = false;
          const s = document.createElement("script");
          s.textContent = "window.injected = true";
          document.body.appendChild(s);
          const b = document.createElement("button");
          b.setAttribute("onclick", "window.injected = true");
          document.body.appendChild(b); b.click(); b.remove();
          return window.injected;
        }"""
    )
    page.evaluate("1")
    assert ran is False
    refused = [p for p in watcher.problems if " CSP " in p]
    assert any('"script-src-elem"' in p for p in refused), watcher.problems
    assert any('"script-src-attr"' in p for p in refused), watcher.problems
    watcher.problems.clear()  # Chromium also logs both refusals to the console


def test_every_page_runs_its_scripts_under_the_csp_for_every_role(
    world, server, new_page, browser_login, program, clinician, patient, admin
):
    # --- the patient ---------------------------------------------------------------------
    watcher = Watcher()
    page = watcher.attach(new_page())
    browser_login(page, server, patient.email, PASSWORD)
    visit(page, f"{server}/crisis/")
    check_csp_is_enforced(page, watcher)
    assert page.evaluate("htmx.config.allowEval") is False

    for path in patient_pages(world):
        visit(page, server + path)
        expect(page.locator("#notif-bell[data-ready='1']")).to_have_count(1)  # bell script ran
        # Permissions-Policy: only the room may ask for the camera, microphone or screen.
        allowed = page.evaluate(
            "['camera', 'microphone', 'display-capture', 'geolocation']"
            ".map(f => document.featurePolicy.allowsFeature(f))"
        )
        in_room = path.startswith("/rooms/")
        assert allowed == [in_room, in_room, in_room, False], path

    # The idle-logoff warning (app.js): the server says 30 s are left; the dialog counts down
    # and "Stay signed in" asks the server to keep the session.
    page.clock.install()
    page.route(
        "**/accounts/session/status/",
        lambda route: route.fulfill(json={"authenticated": True, "remaining": 30}),
    )
    visit(page, f"{server}/crisis/")
    page.wait_for_function("() => window.viopUserSocket && window.viopUserSocket.readyState === 1")
    page.clock.run_for(15 * 60 * 1000)
    expect(page.locator("#idle-dialog")).to_be_visible()
    expect(page.locator("#idle-countdown")).to_have_text(re.compile(r"\d+ s"))
    page.unroute("**/accounts/session/status/")
    page.get_by_role("button", name="Stay signed in").click()
    expect(page.locator("#idle-dialog")).to_be_hidden()
    page.get_by_role("button", name="Print my plan").click()
    assert page.evaluate("window.printed") == 1  # enrollment.js's print button

    # The room: the chat connects over the socket and a message goes out and comes back.
    page = watcher.attach(new_page())
    browser_login(page, server, patient.email, PASSWORD)
    visit(page, f"{server}/rooms/{world.session.pk}/")
    expect(page.locator("#conn-state")).to_have_text("Connected")
    page.get_by_label("Your message").fill("Hello under the CSP")
    page.get_by_label("Your message").press("Enter")
    expect(page.locator("#chat-list .chat-msg:not(.pending)")).to_contain_text(
        "Hello under the CSP"
    )

    # Homework autosave: htmx posts the step and swaps the "Saved" state in.
    visit(page, f"{server}/homework/a/{world.assignment.pk}/")
    page.get_by_label("I have read this").check()
    expect(page.locator("#state-waves [data-state=saved]")).to_be_visible()
    # Marking a notification read: an htmx swap of the item.
    visit(page, f"{server}/notifications/")
    item = page.locator(".notif-item", has_text="Welcome")
    expect(item).to_have_class(re.compile(r"\bunread\b"))
    item.get_by_role("button", name=re.compile("Mark as read")).click()
    expect(item).not_to_have_class(re.compile(r"\bunread\b"))
    expect(item.get_by_role("button", name=re.compile("Mark as read"))).to_have_count(0)
    page.evaluate("1")
    assert watcher.problems == []

    # --- the clinician (TOTP) ------------------------------------------------------------
    page = watcher.attach(new_page())
    browser_login(page, server, clinician.email, PASSWORD, TOTP_SECRET)
    for path in clinician_pages(world, patient, program):
        visit(page, server + path)
    # The printable summary: its one inline <style> applies (it carries the response's
    # nonce), and its Print button (a javascript: link before) works.
    visit(page, f"{server}/progress/patients/{patient.pk}/summary/")
    font = page.locator("body").evaluate("b => getComputedStyle(b).fontFamily")
    assert font.startswith("Helvetica")
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.printed") == 1
    visit(page, f"{server}/rooms/{world.session.pk}/")
    expect(page.locator("#conn-state")).to_have_text("Connected")
    expect(page.locator("#chat-list")).to_contain_text("Hello under the CSP")
    page.evaluate("1")
    assert watcher.problems == []

    # A clinician without MFA is shown the TOTP QR code (a data: image) to set it up.
    page = watcher.attach(new_page())
    browser_login(page, server, world.newcomer.email, PASSWORD)
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
    qr = page.locator("img[src^='data:image/svg+xml']")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    secret = page.get_by_label("Authenticator secret").input_value()
    page.get_by_label("Authenticator code").fill(totp_now(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/recovery-codes/"))
    page.wait_for_load_state("load")
    page.evaluate("1")
    assert watcher.problems == []

    # --- the admin (TOTP) ----------------------------------------------------------------
    page = watcher.attach(new_page())
    browser_login(page, server, admin.email, PASSWORD, TOTP_SECRET)
    for path in admin_pages():
        visit(page, server + path)
    # The admin's own scripts run: the two-box facilitator picker, and the periodic task
    # form's crontab helper (its inline script moved to a static file).
    visit(page, server + reverse("admin:scheduling_group_change", args=[world.group.pk]))
    expect(page.locator(".selector-available")).to_have_count(1)
    visit(page, server + reverse("admin:django_celery_beat_periodictask_add"))
    expect(page.locator(".field-crontab_translation")).to_be_hidden()
    page.locator("#id_crontab").select_option(str(world.crontab.pk))
    expect(page.locator(".field-crontab .help")).to_contain_text("Translation: At 09:00")
    page.evaluate("1")
    assert watcher.problems == []
