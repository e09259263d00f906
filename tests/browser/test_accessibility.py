"""Every page of the app, as a patient, a clinician and an admin, at 360×740 and 1280×900:
axe-core finds no WCAG 2.0/2.1/2.2 A or AA violation, and nothing answers with a 5xx.

axe runs as a Playwright init script (CDP), which the page's Content-Security-Policy does
not govern, so the pages are checked under their real policy (no ``bypass_csp``). Django
admin's own pages are third-party and left out; the admin's pages of this app are in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Response

from tests.browser.world import (
    build_clinical_records,
    clinician_clinical_pages,
    clinician_pages,
    nav_pages,
    patient_clinical_pages,
    patient_pages,
)
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core-4.14.1.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe has no rule tagged wcag22a).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SIZES = [(1280, 900), (360, 740)]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                          resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(" ")),
  }));
}"""


class Walker:
    """One page per person, reused for every URL; collects axe violations and 5xx answers."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.violations: list[str] = []
        self.errors: list[str] = []
        page.context.add_init_script(path=str(AXE))
        page.on("response", self._response)

    def _response(self, response: Response) -> None:
        if response.status >= 500:
            self.errors.append(f"{response.status} {response.request.method} {response.url}")

    def check(self, path: str) -> None:
        page = self.page
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        response = page.goto(self.base + path)
        assert response is not None, path
        if response.status >= 500:
            return  # already recorded
        # Each page itself, not a sign-in page or a 404 in its place.
        assert (response.status, page.url) == (200, self.base + path), (path, response.status)
        page.wait_for_load_state("load")
        # htmx fills some parts after load (the nav's unread count): check them too.
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            found: list[dict[str, Any]] = page.evaluate(RUN_AXE, TAGS)
            for v in found:
                for target in v["targets"]:
                    self.violations.append(
                        f"{path} @{width}px: {v['id']} ({v['impact']}) {target} — {v['help']}"
                    )

    def walk(self, paths: list[str]) -> None:
        for path in dict.fromkeys(paths):  # each once, in order
            if not path.startswith("/admin/"):  # Django admin is third-party
                self.check(path)


def test_every_page_passes_axe_at_phone_and_desktop_width_for_every_role(
    world, server, new_page, browser_login, program, clinician, patient, admin
):
    build_clinical_records(world, program, clinician, patient)
    walkers: list[Walker] = []

    anonymous = Walker(new_page(), server)
    walkers.append(anonymous)
    # axe runs under the page's policy and sees what it should: an unlabelled field fails.
    anonymous.page.goto(f"{server}/accounts/login/")
    anonymous.page.evaluate(
        "document.querySelector('main').append(document.createElement('input'))"
    )
    assert "label" in [v["id"] for v in anonymous.page.evaluate(RUN_AXE, TAGS)]
    anonymous.walk(["/accounts/login/", "/accounts/password/reset/", "/accounts/signup/"])

    page = new_page()
    you = Walker(page, server)
    walkers.append(you)
    browser_login(page, server, patient.email, PASSWORD)
    you.walk(["/", *patient_pages(world), *patient_clinical_pages(world)])

    page = new_page()
    staff = Walker(page, server)
    walkers.append(staff)
    browser_login(page, server, clinician.email, PASSWORD, TOTP_SECRET)
    staff.walk(["/", *clinician_pages(world, patient, program)])
    staff.walk(clinician_clinical_pages(world, patient))

    page = new_page()
    boss = Walker(page, server)
    walkers.append(boss)
    browser_login(page, server, admin.email, PASSWORD, TOTP_SECRET)
    boss.walk(["/", *nav_pages("admin"), "/accounts/2fa/"])

    errors = [e for w in walkers for e in w.errors]
    violations = [v for w in walkers for v in w.violations]
    assert not errors, "\n".join(errors)
    assert not violations, f"{len(violations)} axe violations:\n" + "\n".join(violations)
