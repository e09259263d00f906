from django.urls import path

from apps.rooms import views

app_name = "rooms"

urlpatterns = [
    path("<int:session_id>/", views.room, name="room"),
]
