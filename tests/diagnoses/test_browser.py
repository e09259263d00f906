"""A clinician's diagnoses journey in Chromium: search, pick a primary, add a secondary,
resolve one, and find them on the treatment plan."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.diagnoses.models import Diagnosis, DiagnosisStatus
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_searches_picks_resolves_and_plan_shows_them(
    live_server, new_page, clinician, patient, browser_login
):
    page = new_page(phone=True)
    browser_login(page, live_server.url, clinician.email, PASSWORD, TOTP_SECRET)
    page.goto(f"{live_server.url}/diagnoses/patients/{patient.pk}/")

    add = page.get_by_role("region", name="Add a diagnosis")
    search = add.get_by_label("Search codes or words")
    page.wait_for_load_state()
    search.fill("major depressive")  # htmx searches as the clinician types
    pick = page.get_by_label("F33.1 Major depressive disorder, recurrent, moderate")
    expect(pick).to_be_visible(timeout=20_000)  # the first search may wait for the index
    pick.check()
    add.get_by_label("Primary", exact=True).check()
    page.get_by_role("button", name="Add diagnosis").click()
    expect(page.get_by_text("F33.1 added as primary.")).to_be_visible()

    page.wait_for_load_state()
    add.get_by_label("Search codes or words").fill("generalized anxiety")
    # The button searches too (by htmx, or by posting the form when scripts are off).
    add.get_by_role("button", name="Search").click()
    page.get_by_label("F41.1 Generalized anxiety disorder").check()
    add.get_by_label("Secondary", exact=True).check()
    page.get_by_role("button", name="Add diagnosis").click()
    expect(page.get_by_text("F41.1 added as secondary.")).to_be_visible()

    page.wait_for_load_state()
    add.get_by_label("Search codes or words").fill("F43.10")
    # The button searches too (by htmx, or by posting the form when scripts are off).
    add.get_by_role("button", name="Search").click()
    page.get_by_label("F43.10 Post-traumatic stress disorder, unspecified").check()
    page.get_by_role("button", name="Add diagnosis").click()
    expect(page.get_by_text("F43.10 added as secondary.")).to_be_visible()

    page.get_by_text("Resolve F41.1").click()
    page.get_by_role("button", name="Mark F41.1 resolved").click()
    expect(page.get_by_text("F41.1 marked resolved.")).to_be_visible()
    expect(page.get_by_role("heading", name="Resolved")).to_be_visible()

    page.goto(f"{live_server.url}/enrollment/patients/{patient.pk}/treatment-plan/")
    plan = page.locator("section", has=page.get_by_role("heading", name="Diagnoses"))
    expect(plan).to_contain_text("F33.1")
    expect(plan).to_contain_text("F43.10")
    expect(plan).not_to_contain_text("F41.1")

    rows = {d.code: d for d in Diagnosis.objects.filter(patient=patient)}
    assert rows["F33.1"].rank == "primary"
    assert rows["F41.1"].status == DiagnosisStatus.RESOLVED
