from __future__ import annotations

import pytest
from django.test import override_settings

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.django_db
def test_healthz_reports_every_service_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "channel_layer", "broker"}
    assert all(value == "ok" for value in body["checks"].values())


@pytest.mark.django_db
def test_healthz_answers_503_when_cache_is_down(client):
    dead_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
        }
    }
    with override_settings(CACHES=dead_cache):
        from django.core.cache import caches

        caches._settings = None  # type: ignore[attr-defined]
        try:
            caches.__dict__.pop("settings", None)
            response = client.get("/healthz")
        finally:
            caches.__dict__.pop("settings", None)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"].startswith("down")
    assert body["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_healthz_answers_503_when_broker_is_down(client, monkeypatch):
    from kombu import Connection

    from virtualiop.celery import app

    monkeypatch.setattr(app, "connection_for_write", lambda: Connection(DEAD_REDIS))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("down")


@pytest.mark.django_db
def test_healthz_answers_503_when_channel_layer_is_down(client):
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [DEAD_REDIS]},
        }
    }
    from channels.layers import channel_layers

    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        try:
            response = client.get("/healthz")
        finally:
            channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"].startswith("down")
