from django.urls import path

from apps.video import views

app_name = "video"

urlpatterns = [
    path("visit/<int:appointment_id>/", views.visit, name="visit"),
    path("<str:kind>/<int:pk>/join/", views.join, name="join"),
    path("<str:kind>/<int:pk>/state/", views.state, name="state"),
    path("<str:kind>/<int:pk>/moderate/", views.moderate, name="moderate"),
    path("<str:kind>/<int:pk>/leave/", views.leave, name="leave"),
]
