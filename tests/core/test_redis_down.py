"""Redis dies (issue 24, item 11): where it is only a cache, pages answer.

The cache and the channel layer point at a Redis of the test's own that is then killed, as
production's settings point them at its one Redis; fragment caching is on, as with Redis.
Sessions are in the database and need nothing from it."""

from __future__ import annotations

import time
import uuid

import pytest
from django.urls import reverse

from apps.core import cache as cache_module
from apps.homework.models import Response
from tests.factories import PASSWORD
from tests.homework.factories import assign, shipped_modules
from tests.redisserver import RedisServer
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _point_at(settings, url: str) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "t"}
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "socket_connect_timeout": 1, "socket_timeout": 2}],
                "prefix": f"down{uuid.uuid4().hex[:8]}",
            },
        }
    }
    settings.FRAGMENT_CACHE = True


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.kill()


@pytest.fixture
def dead_redis(settings, redis_server):
    """Cache and channel layer on a Redis that answered, then was killed."""
    redis_server.start()
    _point_at(settings, redis_server.url)
    from django.core.cache import cache

    cache.set("warm", 1)  # a pooled connection, as a running process has
    assert cache.get("warm") == 1
    redis_server.kill()
    return redis_server


def test_sign_in_pages_homework_and_sign_out_answer_while_redis_is_dead(
    client, program, clinician, patient, dead_redis
):
    session = make_session(program, [clinician], [patient])
    assignment = assign(clinician, patient, shipped_modules()["urge-surfing"])
    # allauth's login counts failed attempts in the cache (its rate limits).
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert response.status_code == 302
    for url in (
        reverse("home"),
        reverse("scheduling:my_week"),
        reverse("rooms:room", args=[session.pk]),
        reverse("homework:index"),
        reverse("homework:work", args=[assignment.pk]),
    ):
        assert client.get(url).status_code == 200, url
    url = reverse("homework:step_save", args=[assignment.pk, "check"])
    response = client.post(url, {"choice": "passes", "seq": "5"}, **HTMX)
    assert response.status_code == 200
    assert 'data-state="saved"' in response.content.decode()
    assert Response.objects.get().value == {"choices": ["passes"]}
    # Signing out tells the user's sockets over the channel layer: lost, not a 500.
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert not client.get(reverse("home")).wsgi_request.user.is_authenticated


def test_staff_pages_answer_while_redis_is_dead(client, login, program, clinician, dead_redis):
    session = make_session(program, [clinician], [])
    login(client, clinician)
    for url in (
        reverse("home"),
        reverse("scheduling:today"),
        reverse("rooms:room", args=[session.pk]),
        reverse("homework:review"),
    ):
        assert client.get(url).status_code == 200, url


def test_login_guess_limits_still_hold_while_redis_is_dead(client, program, patient, dead_redis):
    """Fail over, not open nor closed: the failed-login limit (5 per account in 5 minutes)
    is counted in this process's memory while Redis is down, so guessing stays limited and
    nobody else is locked out."""
    from tests.factories import patient_in

    for _ in range(5):
        response = client.post(
            reverse("account_login"), {"login": patient.email, "password": "wrong-password-x"}
        )
        assert response.status_code == 200
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert not response.wsgi_request.user.is_authenticated
    assert response.status_code in (200, 429)
    other = patient_in(program, email="other@example.test", full_name="Other Person")
    response = client.post(reverse("account_login"), {"login": other.email, "password": PASSWORD})
    assert response.status_code == 302


def test_a_hung_redis_holds_a_page_for_the_socket_timeout_once(client, patient, settings):
    """A Redis that accepts connections and never answers: the first cache call gives up
    after ``SOCKET_TIMEOUT``; the calls after it do not wait for Redis at all."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # connections queue; nothing is ever read or answered
    try:
        _point_at(settings, f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        from django.core.cache import cache

        started = time.monotonic()
        assert cache.get("anything") is None
        assert time.monotonic() - started < cache_module.SOCKET_TIMEOUT + 0.5
        client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
        started = time.monotonic()
        for _ in range(3):
            assert client.get(reverse("home")).status_code == 200
        assert time.monotonic() - started < 1.5
    finally:
        listener.close()


def test_the_cache_fails_over_to_memory_and_back(redis_server, caplog):
    """Every call answers while Redis is dead (from this process's memory), the outage is
    logged once, and once Redis answers again the memory is dropped and the recovery hooks
    run (fragments: a new epoch, as writes meanwhile could not invalidate)."""
    redis_server.start()
    cache = cache_module.RedisCache(redis_server.url, {"KEY_PREFIX": "t"})
    recovered: list[bool] = []
    cache_module.on_recovery(lambda: recovered.append(True))
    try:
        cache.set("kept", "in redis")
        redis_server.kill()
        assert cache.get("kept") is None  # Redis' value is out of reach, not an error
        assert cache.add("lock", 1) is True and cache.add("lock", 1) is False
        cache.set("n", 1)
        assert cache.incr("n") == 2
        cache.set_many({"a": 1, "b": 2})
        assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        assert cache.has_key("a")
        cache.delete_many(["a"])
        cache.delete("b")
        assert cache.get_many(["a", "b"]) == {}
        assert cache._health.down_since is not None
        assert caplog.text.count("unavailable") == 1
        assert f"127.0.0.1:{redis_server.port}" in caplog.text

        redis_server.start()
        cache._health.retry_at = 0  # the retry pause is over
        assert cache.get("n") is None  # from Redis again (empty after the restart)
        assert cache._health.down_since is None
        assert recovered == [True]
        assert "answers again" in caplog.text
        cache.set("back", 1)
        assert cache.get("back") == 1
    finally:
        cache_module._recovery_hooks.pop()


def test_health_reports_the_cache_down_while_pages_carry_on(client, dead_redis):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"].startswith("down")


def test_fragments_are_not_cached_while_redis_is_down_nor_served_stale_after(
    rf, patient, settings, redis_server
):
    """While Redis is unreachable each process's memory stands in, which other processes'
    writes cannot invalidate: fragments are rendered every time. A write meanwhile cannot
    bump its counters in Redis, so what Redis kept from before (a network blip: it never
    restarted) is not served once it answers again."""
    from django.core.cache import cache

    from apps.core import fragments

    redis_server.start()
    _point_at(settings, redis_server.url)
    request = rf.get("/")
    request.user = patient

    def show(text: str) -> str:
        return fragments.cached(request, "panel", scopes=["app:progress"], render=lambda: text)

    assert show("before") == "before"
    assert show("changed") == "before"  # cached
    real_get_client = cache._cache.get_client

    def unreachable(*args, **kwargs):
        raise ConnectionError("No route to host")

    cache._cache.get_client = unreachable
    assert show("during") == "during"
    assert show("during 2") == "during 2"  # never from this process's memory
    fragments.bump(["app:progress"])  # a write meanwhile: its bump cannot reach Redis
    cache._cache.get_client = real_get_client
    cache._health.retry_at = 0  # the pause is over: Redis answers, with its old fragment
    assert show("after") == "after"
    assert show("after 2") == "after"  # and caching goes on
