"""The issue's journey in a real browser: a clinician creates a recurring evening group,
adds two patients (the second to the waitlist when full), cancels one occurrence; the
patient sees the week, the cancellation with its reason, and their hours."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.scheduling.models import Group, GroupMembership, Session
from tests.factories import PASSWORD, TOTP_SECRET, patient_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_builds_group_and_patient_sees_week(
    live_server, new_page, program, clinician, patient, browser_login, artifacts_dir
):
    second = patient_in(program, email="second@example.test", full_name="Sid Second")
    page = new_page()
    browser_login(page, live_server.url, clinician.email, PASSWORD, totp_secret=TOTP_SECRET)

    # Create the recurring evening group: every day 18:00-21:00, one seat.
    page.goto(f"{live_server.url}/schedule/groups/new/")
    page.get_by_label("Name").fill("Evening Skills Group")
    page.get_by_label("Kind").select_option("skills")
    page.get_by_label("Track").select_option("evening")
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        page.get_by_label(day).check()
    page.get_by_label("Start time (program time zone)").fill("18:00")
    page.get_by_label("Length (minutes)").fill("180")
    page.get_by_label("Capacity").fill("1")
    page.get_by_label(clinician.full_name).check()
    page.get_by_role("button", name="Create group").click()
    page.wait_for_url(re.compile(r"/schedule/groups/\d+/$"))
    expect(page.get_by_role("heading", name="Evening Skills Group")).to_be_visible()
    group = Group.objects.get(name="Evening Skills Group")
    assert group.sessions.count() > 50

    # Two patients: the first gets the seat, the second is told the group is full and
    # goes on the waitlist.
    page.get_by_label("Patient").select_option(label=patient.full_name)
    page.get_by_role("button", name="Add to group").click()
    expect(page.locator(".messages").get_by_text("Added to the group")).to_be_visible()
    page.get_by_label("Patient").select_option(label=second.full_name)
    page.get_by_role("button", name="Add to group").click()
    expect(page.locator(".messages").get_by_text("The group is full")).to_be_visible()
    page.get_by_label("Patient").select_option(label=second.full_name)
    page.get_by_label("Put on the waitlist if the group is full").check()
    page.get_by_role("button", name="Add to group").click()
    expect(page.locator(".messages").get_by_text("waitlist at position 1")).to_be_visible()
    assert second.full_name in page.locator("#waitlist").inner_text()
    assert GroupMembership.objects.get(patient=second).status == "waitlisted"

    # Cancel one occurrence (the next one) with a reason patients will see.
    target = (
        Session.objects.filter(group=group, ends_at__gte=timezone.now())
        .order_by("starts_at")
        .first()
    )
    page.locator("section", has=page.get_by_role("heading", name="Upcoming sessions")).get_by_role(
        "link"
    ).first.click()
    page.wait_for_url(re.compile(rf"/schedule/sessions/{target.pk}/$"))
    page.get_by_label("Reason patients will see").fill("Clinic closed for staff training")
    page.get_by_role("button", name="Cancel session").click()
    expect(page.locator(".messages").get_by_text("Session cancelled")).to_be_visible()
    target.refresh_from_db()
    assert target.status == "cancelled"
    assert Session.objects.filter(group=group, status="cancelled").count() == 1
    page.screenshot(path=str(artifacts_dir / "scheduling-session-cancelled.png"), full_page=True)

    # The patient's week: the group, the cancellation with its reason, and their hours.
    patient_page = new_page(phone=True)
    browser_login(patient_page, live_server.url, patient.email, PASSWORD)
    patient_page.goto(f"{live_server.url}/schedule/")
    expect(patient_page.get_by_role("heading", name="My week")).to_be_visible()
    hours = patient_page.get_by_text(re.compile(r"[\d.]+ of 9\.0 hours this week"))
    expect(hours).to_be_visible()
    # What's next is the next uncancelled occurrence, even when it falls in next week.
    next_card = patient_page.locator(
        "section", has=patient_page.get_by_role("heading", name="What's next")
    )
    assert "Evening Skills Group" in next_card.inner_text()
    week_of_target = target.starts_at.astimezone(program.time_zone).date().isoformat()
    patient_page.goto(f"{live_server.url}/schedule/?week={week_of_target}")
    body = patient_page.locator("main").inner_text()
    assert "Evening Skills Group" in body
    assert "Cancelled" in body
    assert "Clinic closed for staff training" in body
    patient_page.screenshot(
        path=str(artifacts_dir / "scheduling-my-week-phone.png"), full_page=True
    )

    # The waitlisted patient has no seat, so no sessions.
    waiting_page = new_page()
    browser_login(waiting_page, live_server.url, second.email, PASSWORD)
    waiting_page.goto(f"{live_server.url}/schedule/?week={week_of_target}")
    assert "Evening Skills Group" not in waiting_page.locator("main").inner_text()
