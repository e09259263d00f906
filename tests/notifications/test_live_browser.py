"""A patient with a page open sees a reminder arrive: bell count, spoken notice, toast; and
reads it from the list. pytest-django's live server speaks only WSGI (no /ws/me/), so this
runs the bell's fallback for an in-process channel layer (polling); the socket push itself
is covered in test_consumers.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.notifications import dispatch, services
from apps.notifications.models import Kind, NotificationSettings
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _deliver_reminder(patient):
    NotificationSettings.objects.update_or_create(
        user=patient, defaults={"quiet_start": None, "quiet_end": None}
    )
    services.notification_schedule(
        recipient=patient,
        kind=Kind.SESSION_REMINDER,
        event_key="scheduling.x:1",
        channels=["in_app", "email"],
        context={"starts_at": timezone.now() + dt.timedelta(hours=1), "link": "/notifications/"},
    )
    claims = dispatch.outbox_claim_due()
    return [dispatch.outbox_deliver(outbox_id=c.outbox_id, claim_token=c.token) for c in claims]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_reminder_appears_live_on_an_open_page(
    live_server, new_page, browser_login, patient, settings, artifacts_dir, phone
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    page = new_page(phone=phone)
    browser_login(page, live_server.url, patient.email, PASSWORD)
    bell = page.get_by_role("link", name="Notifications")
    assert page.locator("#notif-count").is_hidden()
    assert sorted(_deliver_reminder(patient)) == ["sent", "sent"]
    toast = page.locator("#notif-toast")
    toast.wait_for(state="visible", timeout=45_000)  # polls every 10 s
    assert "Your group starts at" in toast.inner_text()
    assert page.locator("#notif-count-n").inner_text() == "1"
    # The live region is emptied, then filled a moment later, so screen readers repeat it.
    # (Conditions as functions: Playwright evals a bare expression, which the CSP refuses.)
    page.wait_for_function(
        "() => document.getElementById('notif-live').textContent"
        ".startsWith('New notification: Group at')"
    )
    name = "phone" if phone else "desktop"
    page.screenshot(path=str(artifacts_dir / f"notifications-toast-{name}.png"))
    bell.click()
    page.wait_for_url("**/notifications/")
    page.get_by_role("button", name="Mark as read").first.click()
    page.wait_for_function("() => document.getElementById('notif-count').hidden === true")
    page.screenshot(path=str(artifacts_dir / f"notifications-list-{name}.png"), full_page=True)
