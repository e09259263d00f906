"""Live group rooms: one room per group session, its messages, who is in it, and risk alerts.

The database is the source of truth. The channel layer only carries notifications, so a
broadcast the layer drops is recovered by the client's catch-up (``sync``). Message ids are
allocated while holding a row lock on the room (services.room_message_post), so within a
room ids grow in commit order and "everything after id N" never skips a late commit.
Under the same lock each message also takes the room's next ``seq`` (1, 2, 3 … with no
holes), so a client that receives seq 7 after 5 knows a broadcast was lost and asks for it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils.translation import gettext_lazy as _

MAX_BODY_CHARS = 4000
MAX_PIN_CHARS = 500


class Room(models.Model):
    """The live state of one session's room. Created on first use."""

    session = models.OneToOneField(
        "scheduling.Session", on_delete=models.CASCADE, related_name="room"
    )
    locked = models.BooleanField(_("locked"), default=False)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pinned_text = models.CharField(_("pinned announcement"), max_length=MAX_PIN_CHARS, blank=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pinned_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Claimed with a conditional update so "ending in 5 minutes" is posted once.
    ending_notice_at = models.DateTimeField(null=True, blank=True)
    # The ``seq`` of the room's newest message: advanced in the database, under the room's
    # row lock, by each message insert (services._next_seq, services._ChatInsert).
    message_seq = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("pinned_text"), MAX_PIN_CHARS),
                name="room_pin_length",
            ),
        ]

    def __str__(self) -> str:
        return f"Room of session {self.session_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A full save of a loaded room (the admin's) never writes ``message_seq`` back: a
        message stored since the room was read would otherwise give its seq out again."""
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "message_seq"
            ]
        super().save(*args, **kwargs)


def room_group(session_id: int) -> str:
    """The room's channel-layer group: each process with sockets in the room subscribes
    once (consumers.RoomHub); every event for the room goes through it, in order."""
    return f"room.{session_id}"


class ParticipantStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting in the lobby")
    ADMITTED = "admitted", _("Admitted")
    REMOVED = "removed", _("Removed from this session")


class Participant(models.Model):
    """A person's standing in one room: lobby/admitted/removed, mute, hand, read marker."""

    room = models.ForeignKey(
        Room,
        on_delete=models.CASCADE,
        related_name="participants",
        # Indexed by participant_unique, which leads with it.
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_participations"
    )
    is_facilitator = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ParticipantStatus.choices, default=ParticipantStatus.WAITING
    )
    admitted_at = models.DateTimeField(null=True, blank=True)
    admitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    muted_until = models.DateTimeField(null=True, blank=True)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    # Set when the person's last socket closes; "left" is announced only if they stay away
    # (services.rooms_tick), so a phone's brief reconnect does not fill the chat.
    away_since = models.DateTimeField(null=True, blank=True)
    last_read_message_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["room", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="participant_unique"),
            models.CheckConstraint(
                condition=~Q(status="removed") | Q(removed_at__isnull=False),
                name="participant_removed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id} ({self.status})"


class Connection(models.Model):
    """One open socket in a room (presence). A user with two tabs has two rows. Rows of a
    process that died without closing are ignored once ``seen_at`` is stale."""

    room = models.ForeignKey(
        Room,
        on_delete=models.CASCADE,
        related_name="connections",
        # Indexed by room_conn_room (below, named).
        db_index=False,
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    joined_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        # Not ``seen_at``: every socket's presence is refreshed every few seconds, and with
        # no indexed column changed PostgreSQL makes that a HOT update (no index writes; the
        # old row versions pruned within the page, vacuum or not). A room has a few dozen
        # rows at most, so its stale ones are found by reading them.
        indexes = [models.Index(fields=["room"], name="room_conn_room")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}"


class MessageKind(models.TextChoices):
    CHAT = "chat", _("Chat")
    SYSTEM = "system", _("System")


class SystemEvent(models.TextChoices):
    JOINED = "joined", _("joined")
    LEFT = "left", _("left")
    ADMITTED = "admitted", _("was admitted")
    REMOVED = "removed", _("was removed")
    ENDING_SOON = "ending_soon", _("The session ends in 5 minutes")
    ENDED = "ended", _("The session has ended")
    LOCKED = "locked", _("The room is locked")
    UNLOCKED = "unlocked", _("The room is unlocked")


class Message(models.Model):
    room = models.ForeignKey(
        Room,
        on_delete=models.CASCADE,
        related_name="messages",
        # Indexed by room_message_id, which leads with it.
        db_index=False,
    )
    kind = models.CharField(max_length=8, choices=MessageKind.choices, default=MessageKind.CHAT)
    # Null for system messages.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="room_messages",
    )
    # The sender's own id for this message, so a resend after a flaky connection is the
    # same message (unique per room and author).
    client_id = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    system_event = models.CharField(max_length=16, choices=SystemEvent.choices, blank=True)
    # Whom a system message is about (joined/left/admitted/removed).
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)
    # The message's place in its room: 1, 2, 3 … in id order, with no holes (Room.message_seq).
    seq = models.PositiveBigIntegerField()
    # Tombstone: the body stays for the audit trail but is never sent again.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["room", "id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq"),
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=~Q(client_id=""),
                name="message_unique_client_id",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("body"), MAX_BODY_CHARS),
                name="message_body_length",
            ),
            models.CheckConstraint(
                condition=(Q(kind="chat") & Q(author__isnull=False))
                | (Q(kind="system") & ~Q(system_event="")),
                name="message_kind_fields",
            ),
        ]
        indexes = [
            models.Index(fields=["room", "id"], name="room_message_id"),
            # The rate limit: an author's messages in a room over the last seconds.
            models.Index(fields=["room", "author", "created_at"], name="message_rate"),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} in {self.room_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class RiskPhrase(models.Model):
    """A crisis phrase maintained by the clinic in admin. Matched case-insensitively on
    word boundaries; a match alerts the facilitators privately and never blocks the message."""

    phrase = models.CharField(_("phrase"), max_length=80, unique=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["phrase"]
        verbose_name = _("risk phrase")

    def __str__(self) -> str:
        return self.phrase

    def clean(self) -> None:
        self.phrase = normalise_phrase(self.phrase)


def normalise_phrase(text: str) -> str:
    return " ".join(text.lower().split())


class RiskAlert(models.Model):
    """A message that matched a risk phrase: a private alert to the room's facilitators."""

    message = models.ForeignKey(
        Message,
        on_delete=models.PROTECT,
        related_name="risk_alerts",
        # Indexed by riskalert_one_per_message.
        db_index=False,
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="room_risk_alerts"
    )
    phrase = models.CharField(max_length=80)
    # The measures app's safety flag raised for it: clinicians review and acknowledge it
    # there (which also stops the on-call escalation).
    safety_flag = models.ForeignKey(
        "measures.SafetyFlag",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="room_alerts",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["message"], name="riskalert_one_per_message"),
        ]

    def __str__(self) -> str:
        return f"Risk alert on message {self.message_id}"
