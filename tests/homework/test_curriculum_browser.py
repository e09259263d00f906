"""The curriculum journey in a real browser: a clinician opens a session, assigns the module
its topic suggests to the group; a patient added afterwards finds it on their homework page
and the topic on My week."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from apps.homework.models import Assignment
from apps.scheduling import services as scheduling
from apps.scheduling.models import Group
from tests.factories import PASSWORD, TOTP_SECRET, patient_in
from tests.homework.factories import shipped_modules
from tests.scheduling.factories import make_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_assigns_suggested_module_and_late_joiner_gets_it(
    live_server, new_page, browser_login, artifacts_dir, program, clinician, patient
):
    shipped_modules()
    group = make_group(program, [clinician], name="Evening Relapse Prevention")
    Group.objects.filter(pk=group.pk).update(
        curriculum_topics=[{"title": "Cravings and urges", "module": "urge-surfing"}]
    )
    group.refresh_from_db()
    scheduling.sessions_generate(group=group)  # fills the topics
    scheduling.membership_add(group=group, patient=patient, by=clinician)
    newcomer = patient_in(program, email="newcomer@example.test", full_name="Nia Newcomer")
    session = group.sessions.filter(starts_at__gt=timezone.now()).order_by("starts_at").first()
    assert session.topic == "Cravings and urges"

    staff = new_page()
    browser_login(staff, live_server.url, clinician.email, PASSWORD, TOTP_SECRET)
    staff.goto(f"{live_server.url}{reverse('scheduling:group_detail', args=[group.pk])}")
    expect(staff.get_by_text("Cravings and urges").first).to_be_visible()
    staff.goto(f"{live_server.url}{reverse('scheduling:session_detail', args=[session.pk])}")
    expect(staff.get_by_text("Topic: Cravings and urges")).to_be_visible()
    expect(staff.get_by_text("Suggested for “Cravings and urges”")).to_be_visible()
    staff.get_by_role("link", name="Assign to the group").click()
    staff.wait_for_url(re.compile(r"/homework/review/groups/\d+/\?session=\d+$"))
    module = staff.get_by_label("Module", exact=True)
    expect(module.locator("option:checked")).to_have_text("Urge surfing · Relapse prevention")
    expect(staff.get_by_label("After which group session? (optional)")).to_have_value(
        str(session.pk)
    )
    staff.get_by_role("button", name="Assign to group").click()
    expect(staff.get_by_text("Assigned to 1 member(s)")).to_be_visible()
    staff.screenshot(path=str(artifacts_dir / "curriculum-group-assigned.png"), full_page=True)

    # A patient joins the group afterwards, through the group page.
    staff.goto(f"{live_server.url}{reverse('scheduling:group_detail', args=[group.pk])}")
    staff.get_by_label("Patient").select_option(label=newcomer.full_name)
    staff.get_by_role("button", name="Add to group").click()
    expect(staff.locator(".messages").get_by_text("Added to the group")).to_be_visible()
    given = Assignment.objects.get(patient=newcomer)
    assert given.module.slug == "urge-surfing" and given.group_id == group.pk
    assert given.session_id == session.pk

    # The newcomer, on a phone, finds it on their homework page and the topic on My week.
    page = new_page(phone=True)
    browser_login(page, live_server.url, newcomer.email, PASSWORD)
    page.goto(f"{live_server.url}{reverse('homework:index')}")
    expect(page.get_by_role("link", name="Urge surfing")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "curriculum-late-joiner.png"), full_page=True)
    page.goto(f"{live_server.url}{reverse('scheduling:my_week')}?week={session.occurrence_date}")
    expect(page.get_by_text("Cravings and urges").first).to_be_visible()
