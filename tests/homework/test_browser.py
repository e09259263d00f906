"""The homework journey in a real browser (Playwright + Chromium)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.homework.models import Assignment, AssignmentStatus, Response
from tests.factories import PASSWORD, TOTP_SECRET, patient_in
from tests.homework.factories import make_group, make_session, shipped_modules
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _saved(page, step_id: str):
    expect(page.locator(f"#state-{step_id} [data-state=saved]")).to_be_visible()


def test_group_assignment_two_visits_submit_and_review(
    live_server, new_page, browser_login, artifacts_dir, program, clinician, patient
):
    shipped_modules()
    other = patient_in(program, email="second.member@example.test", full_name="Sam Second")
    group = make_group(program, name="Wednesday Relapse Prevention", members=[patient, other])
    session = make_session(group, days_ago=1)
    weekday = timezone.localtime(session.starts_at, clinician.time_zone).strftime("%A")

    # The clinician assigns a relapse-prevention module to the whole group.
    staff = new_page()
    browser_login(staff, live_server.url, clinician.email, PASSWORD, TOTP_SECRET)
    staff.goto(f"{live_server.url}/homework/review/")
    staff.get_by_role("link", name="Wednesday Relapse Prevention").click()
    staff.get_by_label("Module", exact=True).select_option(
        label="Urge surfing · Relapse prevention"
    )
    staff.get_by_label("After which group session? (optional)").select_option(str(session.pk))
    staff.get_by_label("Personal note (optional)").fill("Practise twice before next group.")
    staff.get_by_role("button", name="Assign to group").click()
    expect(staff.get_by_text("Assigned to 2 member(s)")).to_be_visible()
    staff.screenshot(path=str(artifacts_dir / "homework-group-assigned.png"), full_page=True)
    assert Assignment.objects.filter(group=group, session=session).count() == 2

    # Visit 1 (on a phone): read, answer the quiz, log one practice, start the reflection.
    context_page = new_page(phone=True)
    browser_login(context_page, live_server.url, patient.email, PASSWORD)
    context = context_page.context
    page = context_page
    page.goto(f"{live_server.url}/homework/")
    expect(page.get_by_text(f"after {weekday}'s group")).to_be_visible()
    page.get_by_role("link", name="Urge surfing").click()
    work_url = page.url
    page.get_by_label("I have read this").check()
    _saved(page, "waves")
    page.get_by_label("It rises, peaks and fades, often within half an hour").check()
    _saved(page, "check")
    expect(page.locator("#feedback-check")).to_contain_text("Right.")
    page.get_by_label("Craving at the start (0-10)", exact=True).fill("8")
    page.get_by_label("Minutes surfed").fill("20")
    page.get_by_label("Craving at the end (0-10)", exact=True).fill("4")
    page.get_by_label("What set it off (optional)").fill("Friday night")
    page.get_by_role("button", name="Add entry").click()
    expect(page.locator("#log-surf-log table tbody tr")).to_have_count(1)
    page.get_by_label("What did you notice").fill("The craving peaked early")
    _saved(page, "reflection")
    expect(page.locator("#hw-page-state")).to_have_text("All changes saved.")
    expect(page.get_by_text("3 of 4 steps done")).to_be_visible()  # the log needs two entries
    page.screenshot(path=str(artifacts_dir / "homework-patient-visit1.png"), full_page=True)
    page.close()  # closing the page loses nothing

    # Visit 2: everything is still there; finish and submit.
    page = context.new_page()
    page.goto(work_url)
    expect(page.get_by_label("I have read this")).to_be_checked()
    expect(
        page.get_by_label("It rises, peaks and fades, often within half an hour")
    ).to_be_checked()
    expect(page.locator("#log-surf-log table tbody tr")).to_have_count(1)
    expect(page.get_by_label("What did you notice")).to_have_value("The craving peaked early")
    page.get_by_label("Craving at the start (0-10)", exact=True).fill("6")
    page.get_by_label("Minutes surfed").fill("15")
    page.get_by_label("Craving at the end (0-10)", exact=True).fill("2")
    page.get_by_role("button", name="Add entry").click()
    expect(page.locator("#log-surf-log table tbody tr")).to_have_count(2)
    expect(page.locator("#log-surf-log svg[role=img]")).to_be_visible()
    page.get_by_label("What did you notice").fill(
        "The craving peaked early and then faded after about fifteen minutes."
    )
    # Submit straight away: the page saves the pending answer first.
    page.get_by_role("button", name="Submit homework").click()
    expect(page.get_by_text("Submitted. Your clinician will look at it.")).to_be_visible()
    expect(page.get_by_text(re.compile("Answers are locked"))).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "homework-patient-submitted.png"), full_page=True)
    mine = Assignment.objects.get(patient=patient)
    assert mine.status == AssignmentStatus.SUBMITTED
    assert (
        Response.objects.get(assignment=mine, step_id="reflection")
        .value["text"]
        .endswith("fifteen minutes.")
    )

    # The clinician reviews (chart of the log) and comments.
    staff.goto(f"{live_server.url}/homework/review/")
    staff.get_by_role("link", name=re.compile("Review Urge surfing, Pat Member")).click()
    expect(staff.locator("svg[role=img] title")).to_have_text(
        "Craving at the start and end of each surf"
    )
    expect(staff.get_by_text("Friday night")).to_be_visible()
    staff.get_by_label("Feedback for the patient").fill("Two good surfs. Notice how fast it fell.")
    staff.get_by_role("button", name="Send feedback").click()
    expect(staff.get_by_text("Feedback saved.")).to_be_visible()
    staff.screenshot(path=str(artifacts_dir / "homework-clinician-review.png"), full_page=True)
    mine.refresh_from_db()
    assert mine.status == AssignmentStatus.REVIEWED

    page.reload()
    expect(page.get_by_text("Two good surfs. Notice how fast it fell.")).to_be_visible()


def test_offline_answer_shows_not_saved_and_retries(
    live_server, page, browser_login, artifacts_dir, clinician, patient
):
    modules = shipped_modules()
    from apps.homework import services

    assignment, _ = services.assignment_create(
        clinician=clinician, patient=patient, module=modules["paced-breathing"]
    )
    browser_login(page, live_server.url, patient.email, PASSWORD)
    page.goto(f"{live_server.url}/homework/a/{assignment.pk}/")
    page.context.set_offline(True)
    page.get_by_label("What did you notice in your body").fill("Typed while offline")
    expect(page.locator("#state-reflection [data-state=failed]")).to_be_visible()
    expect(page.locator("#hw-page-state")).to_have_text("Some answers are not saved yet.")
    page.screenshot(path=str(artifacts_dir / "homework-offline.png"), full_page=False)
    expect(page.locator("#form-reflection").get_by_role("button", name="Retry now")).to_be_visible()
    page.context.set_offline(False)
    # Back online: the page retries by itself (the "online" event, else its back-off timer).
    expect(page.locator("#state-reflection [data-state=saved]")).to_be_visible(timeout=20_000)
    expect(page.locator("#hw-page-state")).to_have_text("All changes saved.")
    assert Response.objects.get(step_id="reflection").value == {"text": "Typed while offline"}


def test_closing_the_tab_mid_typing_still_saves(
    live_server, page, browser_login, clinician, patient
):
    """Typed and closed within the autosave delay: the page sends the answer as it closes."""
    modules = shipped_modules()
    from apps.homework import services

    assignment, _ = services.assignment_create(
        clinician=clinician, patient=patient, module=modules["paced-breathing"]
    )
    browser_login(page, live_server.url, patient.email, PASSWORD)
    page.goto(f"{live_server.url}/homework/a/{assignment.pk}/")
    context = page.context
    page.get_by_label("What did you notice in your body").fill("Closed straight after typing")
    page.close(run_before_unload=True)  # well inside the 800 ms debounce

    # The request leaves as the page closes: open the page again until the server has it
    # (not the database here: the in-memory SQLite of tests locks tables across threads).
    again = context.new_page()
    answer = again.get_by_label("What did you notice in your body")
    _reload_until(again, f"{live_server.url}/homework/a/{assignment.pk}/", answer)
    expect(answer).to_have_value("Closed straight after typing")


def _reload_until(page, url: str, field) -> None:
    """Open ``url`` until ``field`` shows a stored answer."""

    def stored() -> bool:
        page.goto(url)
        return bool(field.input_value())

    wait_until(stored, timeout=10, interval=0.2, what="the answer to be stored", page=page)


def test_an_answer_given_before_the_scripts_ran_is_saved_when_they_do(
    live_server, page, browser_login, clinician, patient
):
    """A slow phone: the patient answers while htmx and homework.js are still loading, so no
    event reaches them. Once they run, the page saves what differs from what it was served."""
    modules = shipped_modules()
    from apps.homework import services

    assignment, _ = services.assignment_create(
        clinician=clinician, patient=patient, module=modules["paced-breathing"]
    )
    browser_login(page, live_server.url, patient.email, PASSWORD)
    held = []
    page.route(re.compile(r"/static/.*(htmx|homework).*\.js$"), lambda route: held.append(route))
    page.goto(f"{live_server.url}/homework/a/{assignment.pk}/", wait_until="commit")
    answer = page.get_by_label("What did you notice in your body")
    answer.fill("Typed before the scripts arrived")
    # htmx and homework.js, both waiting for the browser to get them
    wait_until(lambda: len(held) >= 2, what="the two scripts to be requested", page=page)
    for route in held:
        route.continue_()

    expect(page.locator("#state-reflection [data-state=saved]")).to_be_visible()
    again = page.context.new_page()
    answer = again.get_by_label("What did you notice in your body")
    _reload_until(again, f"{live_server.url}/homework/a/{assignment.pk}/", answer)
    expect(answer).to_have_value("Typed before the scripts arrived")
