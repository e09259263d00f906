from django.urls import path

from apps.rooms.consumers import RoomConsumer

websocket_urlpatterns = [
    path("ws/rooms/<int:session_id>/", RoomConsumer.as_asgi()),
]
