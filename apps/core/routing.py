from django.urls import path

from apps.core.consumers import NotificationSocketConsumer, PingConsumer

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
    path("ws/me/", NotificationSocketConsumer.as_asgi()),
]
