"""The per-user socket and the ping probe: auth, origin, bad frames, closing on logout/idle."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from apps.accounts.mfa import mfa_mark_passed
from apps.accounts.services import user_sockets_close
from apps.core.sessions import LAST_SEEN_KEY
from virtualiop.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _session_for(user, *, idle_for: float = 0) -> SessionStore:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    mfa_mark_passed(session, user)  # staff sessions count once MFA passed
    session[LAST_SEEN_KEY] = time.time() - idle_for
    session.create()
    return session


def _communicator(
    path: str, session: SessionStore | None = None, origin=ORIGIN
) -> WebsocketCommunicator:
    headers = [origin] if origin else []
    if session is not None:
        headers.append(
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode())
        )
    return WebsocketCommunicator(application, path, headers=headers)


async def test_ping_answers_pong():
    communicator = _communicator("/ws/ping/")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data="ping")
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def test_socket_from_a_foreign_origin_is_refused():
    communicator = _communicator("/ws/ping/", origin=(b"origin", b"https://evil.example"))
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_anonymous_user_cannot_open_the_user_socket():
    communicator = _communicator("/ws/me/")
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4403
    await communicator.disconnect()


async def test_signed_in_user_opens_the_user_socket(patient):
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(patient):
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    await communicator.connect()
    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from())["code"] == "malformed_json"
    await communicator.send_json_to({"type": "launch_missiles"})
    assert (await communicator.receive_json_from())["code"] == "unknown_type"
    await communicator.send_to(text_data="x" * (64 * 1024 + 1))
    assert (await communicator.receive_json_from())["code"] == "frame_too_large"
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


async def test_logout_closes_the_users_open_sockets(patient):
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    await communicator.connect()
    await sync_to_async(user_sockets_close)(user_id=patient.pk, reason="logged_out")
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_logout_through_the_view_closes_sockets(patient, client):
    await sync_to_async(client.force_login)(patient)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    communicator = WebsocketCommunicator(
        application,
        "/ws/me/",
        headers=[ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode())],
    )
    connected, _ = await communicator.connect()
    assert connected
    await sync_to_async(client.post)("/accounts/logout/")
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_idle_expired_session_is_closed_on_its_next_frame(patient, monkeypatch):
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    await communicator.connect()
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    # The user walks away: no request, no frame, past the idle timeout. The frame they send
    # on their return is refused though the socket read its session seconds ago.
    later = time.time() + settings.IDLE_TIMEOUT_SECONDS + 10
    monkeypatch.setattr(time, "time", lambda: later)
    await communicator.send_json_to({"type": "ping"})
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_a_session_changed_in_the_database_is_found_within_the_check_period(
    patient, monkeypatch
):
    """Frames are answered from the socket's last session read for SESSION_CHECK_SECONDS
    (sign-out, password change and deactivation are pushed); a change made any other way,
    such as the session row deleted by hand, is found on the first frame after that."""
    from apps.core import consumers

    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    await communicator.connect()
    await sync_to_async(SessionStore(session_key=session.session_key).delete)()
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    later = time.monotonic() + consumers.SESSION_CHECK_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    await communicator.send_json_to({"type": "ping"})
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_a_watched_sockets_frames_never_wait_for_a_session_read(patient, monkeypatch):
    """The periodic check re-reads every socket's session before its last read goes stale,
    so a talking user's frames are answered from it: none reads the session row itself."""
    import asyncio

    from apps.core import consumers

    monkeypatch.setattr(consumers, "SESSION_CHECK_SECONDS", 1.5)
    frame_reads: list[str] = []
    real_alive, real_watch = consumers.login_session_alive, consumers.login_sessions_alive

    def counting_alive(scope):
        frame_reads.append(scope["user"].email)
        return real_alive(scope)

    def slow_watch(scopes):  # as under load: the periodic read takes a while
        time.sleep(0.3)
        return real_watch(scopes)

    monkeypatch.setattr(consumers, "login_session_alive", counting_alive)
    monkeypatch.setattr(consumers, "login_sessions_alive", slow_watch)
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    assert (await communicator.connect())[0]
    frame_reads.clear()  # the connect's own read
    deadline = time.monotonic() + 4.5  # several periods
    while time.monotonic() < deadline:
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from())["type"] == "pong"
        await asyncio.sleep(0.05)  # a talking user's pace, over several periods
    assert frame_reads == []
    await communicator.disconnect()


async def test_silent_sockets_are_checked_together_and_closed_when_their_session_is_gone(
    patient, outsider, monkeypatch
):
    """The periodic check (no frame needed) finds a session row deleted by hand and an
    account deactivated without a signal (``update()``); other sockets stay open."""
    from apps.accounts.models import User
    from apps.core import consumers

    monkeypatch.setattr(consumers, "SESSION_CHECK_SECONDS", 0.3)
    monkeypatch.setattr(consumers, "SESSION_WATCH_BATCH", 2)  # several batches a pass
    staying = await sync_to_async(_session_for)(outsider)
    dropped = await sync_to_async(_session_for)(patient)
    second = await sync_to_async(_session_for)(patient)
    comms = {
        "staying": _communicator("/ws/me/", staying),
        "dropped": _communicator("/ws/me/", dropped),
        "deactivated": _communicator("/ws/me/", second),
    }
    for comm in comms.values():
        assert (await comm.connect())[0]
    await sync_to_async(SessionStore(session_key=dropped.session_key).delete)()
    assert await comms["dropped"].receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": 4401,
    }
    assert await comms["staying"].receive_nothing(timeout=1)
    await sync_to_async(User.objects.filter(pk=patient.pk).update)(is_active=False)
    assert await comms["deactivated"].receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": 4401,
    }
    await comms["staying"].send_json_to({"type": "ping"})
    assert (await comms["staying"].receive_json_from())["type"] == "pong"
    for comm in comms.values():
        await comm.disconnect()


async def test_a_password_change_closes_the_users_other_sockets_at_once(patient):
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    await communicator.connect()
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"

    def change_password() -> None:
        patient.set_password("a-new-passphrase-2026")
        patient.save()

    await sync_to_async(change_password)()
    output = await communicator.receive_output(timeout=2)  # no frame needed
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_deactivating_an_account_closes_its_sockets_at_once(patient):
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    await communicator.connect()

    def deactivate() -> None:
        patient.is_active = False
        patient.save(update_fields=["is_active"])

    await sync_to_async(deactivate)()
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_other_saves_of_the_user_leave_the_socket_open(patient):
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    await communicator.connect()

    def rename() -> None:
        patient.full_name = "Renamed Person"
        patient.save()  # a full save: the socket re-reads its session, which is still good

    await sync_to_async(rename)()
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def test_idle_session_cannot_open_a_socket(patient):
    session = await sync_to_async(_session_for)(
        patient, idle_for=settings.IDLE_TIMEOUT_SECONDS + 10
    )
    communicator = _communicator("/ws/me/", session)
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_in_app_events_reach_the_users_socket_only(patient, outsider):
    from apps.core.events import group_send_now, user_group

    mine = _communicator("/ws/me/", await sync_to_async(_session_for)(patient))
    theirs = _communicator("/ws/me/", await sync_to_async(_session_for)(outsider))
    await mine.connect()
    await theirs.connect()
    await sync_to_async(group_send_now)(
        user_group(patient.pk), {"type": "user.event", "payload": {"kind": "hello"}}
    )
    assert await mine.receive_json_from() == {"kind": "hello"}
    assert await theirs.receive_nothing(timeout=0.3)
    await mine.disconnect()
    await theirs.disconnect()


async def test_broadcast_to_a_socket_whose_client_just_left_is_dropped_quietly(patient):
    from autobahn.exception import Disconnected

    from apps.core.consumers import NotificationSocketConsumer

    consumer = NotificationSocketConsumer()
    sent = []

    async def base_send(message):
        sent.append(message)
        raise Disconnected("Attempt to send on a closed protocol")

    consumer.base_send = base_send
    await consumer.user_event({"type": "user.event", "payload": {"kind": "x"}})  # no exception
    assert len(sent) == 1
    await consumer.user_event({"type": "user.event", "payload": {"kind": "y"}})
    assert len(sent) == 1  # once gone, nothing more is attempted


def _pubsub_layer_or_skip(settings):
    """This event loop's Redis pub/sub layer (the consumers' too); skips on other layers."""
    from channels.layers import get_channel_layer

    if "RedisPubSub" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.skip("for the Redis pub/sub layer (REDIS_URL)")
    return get_channel_layer()._get_layer()


async def test_a_broadcast_from_a_plain_thread_reaches_the_socket_over_redis(patient, settings):
    """With the Redis pub/sub layer, a service's broadcast from a worker thread (as after a
    commit) reaches the user's socket."""
    import threading

    from apps.core import events

    _pubsub_layer_or_skip(settings)
    mine = _communicator("/ws/me/", await sync_to_async(_session_for)(patient))
    await mine.connect()
    thread = threading.Thread(
        target=events.group_send_now,
        args=(events.user_group(patient.pk), {"type": "user.event", "payload": {"n": 1}}),
    )
    thread.start()
    thread.join(5)
    assert await mine.receive_json_from(timeout=3) == {"n": 1}
    await mine.disconnect()


def _redis_subscribers(channel: str) -> int:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return dict(client.pubsub_numsub(channel))[channel.encode()]


@pytest.mark.parametrize("broadcast_while_closing", [False, True])
async def test_a_closed_socket_leaves_no_channel_behind_in_the_layer_or_redis(
    patient, settings, monkeypatch, broadcast_while_closing
):
    """Each consumer gets its own layer channel (a queue in the process and a Redis
    subscription). channels_redis' pub/sub layer drops it only when the consumer's receive
    is cancelled while waiting; a broadcast that arrives while the socket is closing (a busy
    room) leaves the receive holding it, and the channel was kept for good: about one per
    closed socket, the 30-minute soak's memory creep."""
    import asyncio

    from apps.core.consumers import NotificationSocketConsumer

    layer = _pubsub_layer_or_skip(settings)
    names = []
    original = NotificationSocketConsumer.disconnect

    async def disconnect(self, code):
        names.append(self.channel_name)
        assert self.channel_name in layer.channels
        assert _redis_subscribers(self.channel_name) == 1
        if broadcast_while_closing:
            await self.channel_layer.send(
                self.channel_name, {"type": "user.event", "payload": {"late": True}}
            )
            await asyncio.sleep(0.3)  # delivered to the consumer's receive, never dispatched
        await original(self, code)

    monkeypatch.setattr(NotificationSocketConsumer, "disconnect", disconnect)
    for _ in range(3):
        communicator = _communicator("/ws/me/", await sync_to_async(_session_for)(patient))
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from() == {"type": "pong"}
        await communicator.disconnect()
    assert len(names) == 3
    assert [name for name in names if name in layer.channels] == []
    assert [name for name in names if _redis_subscribers(name)] == []


async def test_a_closed_ping_socket_leaves_no_channel_behind(settings):
    layer = _pubsub_layer_or_skip(settings)
    before = set(layer.channels)
    for _ in range(3):
        communicator = _communicator("/ws/ping/")
        assert (await communicator.connect())[0]
        await communicator.send_to(text_data="ping")
        await communicator.receive_json_from()
        await communicator.disconnect()
    assert set(layer.channels) - before == set()


def test_every_routed_consumer_releases_its_layer_channel():
    from channels.routing import URLRouter

    from apps.core.consumers import LayerChannelReleased
    from virtualiop.routing import websocket_urlpatterns

    consumers = [pattern.callback.consumer_class for pattern in websocket_urlpatterns]
    assert consumers and not any(isinstance(c, URLRouter) for c in consumers)
    assert [c.__name__ for c in consumers if not issubclass(c, LayerChannelReleased)] == []


async def test_releasing_a_channel_when_redis_is_gone_logs_and_does_not_raise(settings, caplog):
    """A consumer ending while Redis is down must end quietly (its subscription went with
    the connection); the queue is still forgotten."""
    from channels.layers import get_channel_layer

    from apps.core.events import release_layer_channel

    layer = _pubsub_layer_or_skip(settings)
    channel = await get_channel_layer().new_channel()
    shard = layer._get_shard(channel)

    async def broken(name):
        raise ConnectionError("redis gone")

    real = shard.unsubscribe
    shard.unsubscribe = broken
    try:
        await release_layer_channel(get_channel_layer(), channel)
    finally:
        shard.unsubscribe = real
    assert channel not in layer.channels
    assert "could not unsubscribe" in caplog.text
    await real(channel)


async def test_a_frame_that_hits_a_statement_timeout_answers_busy_and_keeps_the_socket(
    patient, monkeypatch
):
    from django.db import OperationalError

    from apps.core.consumers import NotificationSocketConsumer

    class QueryCanceled(Exception):
        sqlstate = "57014"

    async def slow(self, content, **kwargs):
        try:
            raise QueryCanceled("canceling statement due to statement timeout")
        except QueryCanceled as exc:
            raise OperationalError("canceling statement") from exc

    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    connected, _ = await communicator.connect()
    assert connected
    original = NotificationSocketConsumer.receive_json
    monkeypatch.setattr(NotificationSocketConsumer, "receive_json", slow)
    await communicator.send_json_to({"type": "ping"})
    frame = await communicator.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "busy"
    monkeypatch.setattr(NotificationSocketConsumer, "receive_json", original)
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"  # still open
    await communicator.disconnect()


async def test_control_character_in_a_frame_gets_an_error_and_the_socket_stays_open(patient):
    # Issue 24 item 8: every consumer built on UserSocketConsumer refuses the frame whole.
    session = await sync_to_async(_session_for)(patient)
    communicator = _communicator("/ws/me/", session)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data='{"type": "ping", "note": "a\\u0000b"}')
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == "invalid_text"
    await communicator.send_to(text_data='{"type": "ping"}')
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()
