from django.urls import path

from apps.video import views

app_name = "video"

urlpatterns = [
    path("visit/<int:appointment_id>/", views.visit, name="visit"),
    path("visit/<int:appointment_id>/invite/", views.guest_invite, name="guest_invite"),
    path("guest/", views.guest, name="guest"),
    path("guest/join/", views.guest_join, name="guest_join"),
    path("guest/state/", views.guest_state, name="guest_state"),
    path("guest/leave/", views.guest_leave, name="guest_leave"),
    path("guest/<str:token>/", views.guest_redeem, name="guest_redeem"),
    path("<str:kind>/<int:pk>/join/", views.join, name="join"),
    path("<str:kind>/<int:pk>/state/", views.state, name="state"),
    path("<str:kind>/<int:pk>/moderate/", views.moderate, name="moderate"),
    path("<str:kind>/<int:pk>/leave/", views.leave, name="leave"),
]
