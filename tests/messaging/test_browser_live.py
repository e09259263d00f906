"""Messages arrive without a reload: a patient (on a phone) and a clinician have the same
conversation open in two browsers against a real daphne; each one's reply shows on the
other's page, the clinician's inbox and its unread count update in place, and a message
stored while a page's socket was down shows once it reconnects."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from apps.core import events
from apps.messaging import services
from apps.messaging.models import Audience, Message
from conftest import open_menu
from tests.factories import PASSWORD, TOTP_SECRET
from tests.rooms.servers import daphne, free_port, server_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SOCKET_OPEN = "() => window.viopUserSocket && window.viopUserSocket.readyState === 1"


@pytest.fixture
def site(transactional_db):
    port = free_port()
    with daphne(port, server_env()):
        yield f"http://127.0.0.1:{port}"


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(SOCKET_OPEN)
    # Set once per page load: still there later means the page was never reloaded.
    page.evaluate("() => { window.__sameLoad = true; }")


def _same_load(page) -> bool:
    return bool(page.evaluate("() => window.__sameLoad === true"))


def test_replies_show_on_the_other_open_page_without_a_reload(
    site, new_page, browser_login, patient, clinician, artifacts_dir
):
    thread, _created = services.thread_start(
        by=patient,
        audience=Audience.CLINICAL,
        subject="Trouble sleeping",
        body="I have been waking at 3 am all week.",
        client_id=uuid.uuid4(),
    )
    url = f"{site}/messages/{thread.pk}/"

    pat = new_page(phone=True)
    browser_login(pat, site, patient.email, PASSWORD)
    _open(pat, url)
    doc = new_page()
    browser_login(doc, site, clinician.email, PASSWORD, TOTP_SECRET)
    _open(doc, url)

    # The clinician replies; the patient's open page shows it.
    doc.get_by_label("Your reply").fill("Thanks for telling us. Let's look at it on Thursday.")
    doc.get_by_role("button", name="Send reply").click()
    doc.wait_for_url(re.compile(r"/messages/\d+/"))
    expect(pat.get_by_test_id("messages")).to_contain_text("look at it on Thursday")
    assert _same_load(pat)
    pat.screenshot(path=str(artifacts_dir / "messaging-live-patient-phone.png"), full_page=True)

    # The patient answers; the clinician's page (reloaded by their own send) shows it.
    _open(doc, url)
    pat.get_by_label("Your reply").fill("Thursday works.")
    pat.get_by_role("button", name="Send reply").click()
    pat.wait_for_url(re.compile(r"/messages/\d+/"))
    expect(doc.get_by_test_id("messages")).to_contain_text("Thursday works.")
    assert _same_load(doc)
    assert doc.locator("[data-message-id]").count() == 3  # each message shown once

    # The clinician's inbox and its unread count update in place.
    _open(doc, f"{site}/messages/")
    open_menu(doc)
    expect(doc.get_by_test_id("messages-unread")).to_have_count(0)
    _open(pat, url)
    pat.get_by_label("Your reply").fill("Also: can I bring my partner?")
    pat.get_by_role("button", name="Send reply").click()
    row = doc.get_by_test_id("thread-list").get_by_role("listitem").first
    expect(row).to_contain_text("Unread")
    expect(doc.get_by_test_id("messages-unread")).to_contain_text("1")
    assert _same_load(doc)
    doc.screenshot(path=str(artifacts_dir / "messaging-live-inbox.png"), full_page=True)


def test_a_message_stored_while_the_socket_was_down_shows_after_it_reconnects(
    site, new_page, browser_login, patient, clinician
):
    thread, _created = services.thread_start(
        by=patient,
        audience=Audience.CLINICAL,
        subject="Medication question",
        body="Should I take it with food?",
        client_id=uuid.uuid4(),
    )
    pat = new_page(phone=True)
    browser_login(pat, site, patient.email, PASSWORD)
    _open(pat, f"{site}/messages/{thread.pk}/")
    pat.evaluate("() => window.viopUserSocket.close()")

    def clinician_answers() -> None:
        """Stored, its push dropped (and this process's channel layer is not the server's):
        only the page's catch-up on reconnect can show it."""
        from django.db import connection

        real = events.group_send_now
        events.group_send_now = lambda group, event: None
        try:
            services.message_post(
                author=clinician,
                thread_id=thread.pk,
                body="Yes, with breakfast.",
                client_id=uuid.uuid4(),
            )
        finally:
            events.group_send_now = real
            connection.close()

    # In another thread: Playwright's event loop runs in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(clinician_answers).result()
    assert Message.objects.filter(thread=thread).count() == 2
    expect(pat.get_by_test_id("messages")).to_contain_text("Yes, with breakfast.")
    assert _same_load(pat)
    # Open again in the end; a busy machine's reconnects back off (1, 2, 4, 8 … s).
    pat.wait_for_function(SOCKET_OPEN, timeout=45_000)
