"""Secure messaging between a patient and their care team: threads, messages, attachments
and each participant's read / archive state."""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.text import NoControlCharactersValidator
from apps.enrollment.models import private_storage_get

BODY_MAX = 5000
SUBJECT_MAX = 120


class Audience(models.TextChoices):
    """Who on the care team a patient writes to (as TherapyNotes splits it)."""

    CLINICAL = "clinical", _("Clinical (my clinicians)")
    SCHEDULING = "scheduling", _("Scheduling and admin")
    BILLING = "billing", _("Billing")


class Thread(models.Model):
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="message_threads",
        # Indexed by msgthread_patient_last, which leads with it.
        db_index=False,
    )
    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    audience = models.CharField(_("to"), max_length=12, choices=Audience.choices)
    subject = models.CharField(
        _("subject"), max_length=SUBJECT_MAX, validators=[NoControlCharactersValidator()]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed by msgthread_client_once, which leads with it.
        db_index=False,
    )
    created_at = models.DateTimeField()
    # A resend of the same compose form (double click, retry) finds the thread it made.
    client_id = models.UUIDField()
    last_message_at = models.DateTimeField()
    # The last message is the patient's and no staff member has answered it yet.
    needs_reply = models.BooleanField(default=False)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_message_threads",
    )
    # Closed by staff: readable, no more replies.
    closed_at = models.DateTimeField(null=True, blank=True)
    # Filed into the patient's chart (shown there to staff).
    filed_at = models.DateTimeField(null=True, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-last_message_at"], name="msgthread_patient_last")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "client_id"], name="msgthread_client_once"
            ),
            models.CheckConstraint(
                condition=Q(filed_at__isnull=True) | Q(filed_by__isnull=False),
                name="msgthread_filed_by",
            ),
        ]

    def __str__(self) -> str:
        return f"Thread #{self.pk}"

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class Message(models.Model):
    thread = models.ForeignKey(
        Thread,
        on_delete=models.CASCADE,
        related_name="messages",
        # Indexed by msg_thread_created, which leads with it.
        db_index=False,
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed by msg_client_once, which leads with it.
        db_index=False,
    )
    body = models.TextField(
        _("message"), max_length=BODY_MAX, validators=[NoControlCharactersValidator()]
    )
    created_at = models.DateTimeField()
    client_id = models.UUIDField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["thread", "created_at"], name="msg_thread_created")]
        constraints = [
            # One message per compose: a double submit or a retry writes nothing new.
            models.UniqueConstraint(fields=["author", "client_id"], name="msg_client_once"),
        ]

    def __str__(self) -> str:
        return f"Message #{self.pk}"


def _attachment_path(instance: Attachment, filename: str) -> str:
    # Random names: nothing about the patient or the file's own name in the path.
    suffix = PurePath(filename).suffix.lower()[:6]
    return f"messages/{uuid.uuid4().hex}{suffix}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(storage=private_storage_get, upload_to=_attachment_path)
    # Decided from the content (magic bytes / Pillow), never from the name or the browser.
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    name = models.CharField(max_length=120, blank=True)

    def __str__(self) -> str:
        return f"Attachment #{self.pk}"

    @property
    def extension(self) -> str:
        return {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}.get(
            self.content_type, "bin"
        )


class ThreadState(models.Model):
    """One participant's view of a thread: how far they have read, and archived or not."""

    thread = models.ForeignKey(
        Thread,
        on_delete=models.CASCADE,
        related_name="states",
        # Indexed by msgstate_unique, which leads with it.
        db_index=False,
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "user"], name="msgstate_unique"),
        ]

    def __str__(self) -> str:
        return f"State of thread #{self.thread_id} for {self.user_id}"
