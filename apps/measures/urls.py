from django.urls import path

from apps.measures import views

app_name = "measures"

urlpatterns = [
    path("flags/", views.flag_list, name="flags"),
    path("flags/<int:flag_id>/", views.flag_detail, name="flag_detail"),
]
