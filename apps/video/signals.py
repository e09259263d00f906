"""The chat room decides removal and ending for a group session; its media room follows."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.rooms.models import Participant, ParticipantStatus, Room
from apps.video import services
from apps.video.models import VideoRoom


@receiver(post_save, sender=Participant, dispatch_uid="video_participant_removed")
def _participant_removed(sender: Any, instance: Participant, **kwargs: Any) -> None:
    if instance.status != ParticipantStatus.REMOVED:
        return
    session_id, user_id = instance.room.session_id, instance.user_id
    transaction.on_commit(
        lambda: services.video_seat_removed(session_id=session_id, user_id=user_id)
    )


@receiver(post_save, sender=Room, dispatch_uid="video_room_ended")
def _room_ended(sender: Any, instance: Room, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.ended_at is None or (update_fields is not None and "ended_at" not in update_fields):
        return
    session_id = instance.session_id

    def close() -> None:
        room = VideoRoom.objects.filter(session_id=session_id).first()
        if room is not None:
            services.video_room_close(room)

    transaction.on_commit(close)
