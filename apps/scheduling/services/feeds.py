"""Private calendar feed tokens."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.scheduling.models import CalendarFeed, _feed_token


@transaction.atomic
def calendar_feed_rotate(*, user: User) -> CalendarFeed:
    """Issue a new secret token; the old subscription URL stops working at once."""
    feed, _created = CalendarFeed.objects.select_for_update().get_or_create(user=user)
    if not _created:
        feed.token = _feed_token()
        feed.rotated_at = timezone.now()
        feed.save(update_fields=["token", "rotated_at"])
    audit_record(actor=user, action=AuditAction.UPDATE, obj=feed, detail="feed token rotated")
    return feed


@transaction.atomic
def calendar_feed_revoke(*, user: User) -> None:
    CalendarFeed.objects.filter(user=user).delete()
    audit_record(
        actor=user,
        action=AuditAction.DELETE,
        object_type="scheduling.calendarfeed",
        detail="feed revoked",
    )
