"""Issue 29, items 16 and 18–21 in a real browser, on a 360 px phone and a 1280 px desktop:
the patient's dashboard order, the caseload as cards on a phone, the sign-in page's targets,
homework without a per-step Save button, and the crisis plan kept on the device."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.enrollment import services as enrollment
from apps.enrollment.models import Status
from conftest import open_menu
from tests.enrollment.factories import application_in
from tests.factories import PASSWORD, TOTP_SECRET
from tests.homework.factories import assign, make_group, make_session, shipped_modules
from tests.progress.factories import admit, score

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("phone", [True, False], ids=["360", "1280"])
def test_sign_in_page_targets_and_crisis_lines(live_server, new_page, phone, artifacts_dir):
    page = new_page(phone=phone)
    page.goto(f"{live_server.url}/accounts/login/")
    page.screenshot(path=str(artifacts_dir / f"login-{360 if phone else 1280}.png"), full_page=True)
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    assert page.get_by_text("If you have not created an account yet").count() == 0
    box = page.get_by_role("link", name="Forgot your password?").bounding_box()
    assert box and box["width"] >= 24 and box["height"] >= 24  # WCAG 2.2, 2.5.8
    expect(page.locator('a[href="tel:988"]').first).to_be_visible()
    # The main action is above the fold on a phone.
    button = page.get_by_role("button", name="Sign in", exact=True).bounding_box()
    assert button and button["y"] + button["height"] <= (740 if phone else 900)


@pytest.mark.parametrize("phone", [True, False], ids=["360", "1280"])
def test_patient_dashboard_leads_with_today_and_homework_autosaves(
    live_server, new_page, browser_login, program, clinician, patient, phone, artifacts_dir
):
    application_in(patient, program, status=Status.ADMITTED)
    group = make_group(program, members=[patient])
    make_session(group, starts_at=timezone.now() - dt.timedelta(minutes=5))
    a = assign(clinician, patient, shipped_modules()["paced-breathing"])
    page = new_page(phone=phone)
    browser_login(page, live_server.url, patient.email, PASSWORD)
    headings = page.locator("main h2").all_inner_texts()
    assert headings == [
        "Group rooms open now",
        "This week",
        "Daily check-in",
        "Homework",
        "My application",
    ]
    join = page.get_by_role("link", name=re.compile("^Join")).first.bounding_box()
    assert join and join["y"] < (740 if phone else 900)  # the main action above the fold

    page.goto(f"{live_server.url}/homework/a/{a.pk}/")
    expect(page.get_by_text("save automatically as you type")).to_be_visible()
    assert page.get_by_role("button", name="Save", exact=True).count() == 0
    step = page.locator("form", has_text="What matters most in paced breathing?")
    step.get_by_label("Making the out-breath slower and longer than the in-breath").check()
    feedback = step.locator(".hw-feedback")
    feedback.wait_for()
    assert "Yes. The longer exhale" in feedback.inner_text()
    assert "in-breath: Yes" not in feedback.inner_text()
    expect_saved = step.locator('[data-state="saved"]')
    expect_saved.wait_for()
    if phone:
        page.screenshot(path=str(artifacts_dir / "homework-360.png"), full_page=True)


@pytest.mark.parametrize("phone", [True, False], ids=["360", "1280"])
def test_caseload_worsening_first_and_cards_on_a_phone(
    live_server, new_page, browser_login, program, clinician, phone, artifacts_dir
):
    from tests.factories import patient_in

    for name, phq in (("Anna Abbott", (12, 11)), ("Taylor Brooks", (9, 18))):
        p = patient_in(program, full_name=name, email=f"{name.split()[0].lower()}@example.test")
        admit(p, program, days_ago=30)
        score(p, "phq9", phq[0], days_ago=30, context="intake")
        score(p, "phq9", phq[1], days_ago=2)
    page = new_page(phone=phone)
    browser_login(page, live_server.url, clinician.email, PASSWORD, TOTP_SECRET)
    page.goto(f"{live_server.url}/progress/caseload/")
    names = page.locator("table.caseload tbody th[scope=row] a").all_inner_texts()
    assert names[:2] == ["Taylor Brooks", "Anna Abbott"]
    assert page.locator("table.caseload tbody th", has_text="Admitted").count() == 0
    table = page.locator("table.caseload")
    page.screenshot(
        path=str(artifacts_dir / f"caseload-{360 if phone else 1280}.png"), full_page=True
    )
    width = page.evaluate("document.documentElement.scrollWidth")
    if phone:
        assert width <= 360  # cards, no sideways scrolling
        assert page.locator("thead").evaluate("e => e.getBoundingClientRect().height") <= 1
        label = page.locator('td[data-col="phq9"]').first.evaluate(
            "e => getComputedStyle(e, '::before').content"
        )
        assert "PHQ-9" in label
    else:
        assert table.evaluate("e => getComputedStyle(e).display") == "table"


def test_crisis_plan_saved_works_offline_and_goes_at_sign_out(
    live_server, new_page, browser_login, patient, clinician, artifacts_dir
):
    enrollment.safety_plan_save(
        patient=patient, by=clinician, data={"warning_signs": "Pacing at night"}
    )
    page = new_page(phone=True)
    context = page.context
    browser_login(page, live_server.url, patient.email, PASSWORD)
    page.goto(f"{live_server.url}/crisis/")
    page.get_by_role("button", name="Save my crisis plan to this device").click()
    status = page.locator("#crisis-save [role=status]")
    page.wait_for_function(
        "() => document.querySelector('#crisis-save [role=status]').dataset.state === 'saved'"
    )
    assert "Saved on this device" in status.inner_text()
    page.screenshot(path=str(artifacts_dir / "crisis-saved-360.png"), full_page=True)
    keys = page.evaluate("caches.keys()")
    assert keys == ["crisis-plan-v1"]
    cached = page.evaluate(
        "caches.open('crisis-plan-v1').then(c => c.keys()).then(ks => ks.map(r => r.url))"
    )
    assert cached == [f"{live_server.url}/crisis/saved/"]  # only that page

    # Offline: the saved copy opens, at /crisis/saved/ and at /crisis/.
    context.set_offline(True)
    for path in ("/crisis/saved/", "/crisis/"):
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_text("Pacing at night")).to_be_visible()
        expect(page.locator('a[href="tel:988"]').first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "crisis-offline-360.png"), full_page=True)
    context.set_offline(False)

    # Signed out by the server (as the idle logoff does): the plan still opens, and the
    # sign-in page links to it.
    context.clear_cookies()
    page.goto(f"{live_server.url}/crisis/saved/")
    expect(page.get_by_text("Pacing at night")).to_be_visible()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Open my saved crisis plan").wait_for()

    # Signing out on purpose deletes it.
    browser_login(page, live_server.url, patient.email, PASSWORD)
    open_menu(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").first.click()
    assert page.evaluate("caches.keys()") == []
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0
    page.goto(f"{live_server.url}/crisis/saved/")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert page.get_by_role("link", name="Open my saved crisis plan").is_hidden()
