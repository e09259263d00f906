"""Periodic work: media rooms close when the schedule says their session or visit is over."""

from __future__ import annotations

from celery import shared_task

from apps.video import services


@shared_task(name="video.tidy_rooms", soft_time_limit=50, time_limit=60)
def tidy_rooms() -> int:
    return services.video_rooms_tidy()
