from django.apps import AppConfig
from django.conf import settings


class VideoConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.video"
    verbose_name = "Video"

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.rooms.extensions import register_room_page_extra
        from apps.video import signals  # noqa: F401  (connects the room hooks)
        from apps.video.views import room_stage

        register_room_page_extra(room_stage)
        # Declared in code; django-celery-beat's DatabaseScheduler installs it at start.
        settings.CELERY_BEAT_SCHEDULE["video-tidy-rooms"] = {
            "task": "video.tidy_rooms",
            "schedule": 60.0,
        }
