"""In-app notifications reach the per-user socket every page holds (/ws/me/), and only the
recipient's."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from apps.accounts.mfa import mfa_mark_passed
from apps.core.sessions import LAST_SEEN_KEY
from apps.notifications import dispatch, services
from apps.notifications.models import Kind
from virtualiop.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _socket_for(user) -> WebsocketCommunicator:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    mfa_mark_passed(session, user)  # staff sessions count once MFA passed
    session[LAST_SEEN_KEY] = time.time()
    session.create()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()
    return WebsocketCommunicator(application, "/ws/me/", headers=[ORIGIN, (b"cookie", cookie)])


def _queue_and_deliver(user) -> list[str]:
    services.notification_schedule(
        recipient=user,
        kind=Kind.SESSION_CHANGED,
        event_key="scheduling.session:5/changed",
        channels=["in_app"],
        context={"link": "/schedule/"},
    )
    claims = dispatch.outbox_claim_due()
    return [dispatch.outbox_deliver(outbox_id=c.outbox_id, claim_token=c.token) for c in claims]


async def test_notification_is_pushed_to_the_recipients_open_page_only(patient, outsider):
    theirs = await sync_to_async(_socket_for)(outsider)
    mine = await sync_to_async(_socket_for)(patient)
    assert (await mine.connect())[0] and (await theirs.connect())[0]
    try:
        assert await sync_to_async(_queue_and_deliver)(patient) == ["sent"]
        frame = await mine.receive_json_from(timeout=10)
        assert frame["type"] == "notification"
        assert frame["title"] == "Session changed" and frame["unread"] == 1
        assert frame["link"] == "/schedule/"
        assert await theirs.receive_nothing(timeout=0.5)
    finally:
        await mine.disconnect()
        await theirs.disconnect()


async def test_marking_read_updates_the_count_on_other_open_pages(patient):
    from apps.notifications.models import Notification

    await sync_to_async(_queue_and_deliver)(patient)
    note = await Notification.objects.aget(recipient=patient)
    socket = await sync_to_async(_socket_for)(patient)
    await socket.connect()
    try:
        await sync_to_async(services.notification_mark_read)(user=patient, notification_id=note.pk)
        frame = await socket.receive_json_from(timeout=10)
        assert frame == {"type": "notification.read", "unread": 0}
    finally:
        await socket.disconnect()
