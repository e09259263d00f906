"""The billing journey in a real browser: a day blocked by an unsigned group note becomes
billable once the facilitator signs it (through charting's services), and the superbill
downloads from the billing page."""

from __future__ import annotations

import pytest

from apps.charting import services as charting
from tests.billing.conftest import attend, document, local_day
from tests.factories import PASSWORD, TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_signed_group_note_makes_the_day_billable_and_superbill_downloads(
    live_server, new_page, program, clinician, patient, past_sessions, browser_login, artifacts_dir
):
    session = past_sessions[0]
    attend(session, patient, minutes=180)
    draft = document(session, clinician, sign=False)
    day = local_day(session).isoformat()
    url = f"{live_server.url}/billing/?program={program.pk}&start={day}&end={day}"

    page = new_page()
    browser_login(page, live_server.url, clinician.email, PASSWORD, TOTP_SECRET)
    page.goto(url)
    row = page.get_by_role("row", name=patient.full_name)
    assert "Group note for Evening Process Group not signed" in row.inner_text()
    assert "Not billable" in row.inner_text()

    charting.group_note_sign(
        group_note=draft, by=clinician, typed_name=clinician.full_name, secret=PASSWORD
    )
    page.goto(url)
    row = page.get_by_role("row", name=patient.full_name)
    assert "Billable" in row.inner_text() and "S9480-95" in row.inner_text()
    page.screenshot(path=str(artifacts_dir / "billing-day-billable.png"), full_page=True)

    with page.expect_download() as download_info:
        row.get_by_role("link", name="Superbill").click()
    download = download_info.value
    assert download.suggested_filename == f"superbill-{patient.pk}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
