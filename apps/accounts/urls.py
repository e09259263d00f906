from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("session/status/", views.session_status, name="session_status"),
    path("session/keepalive/", views.session_keepalive, name="session_keepalive"),
    path("profile/", views.profile, name="profile"),
]
