from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditImmutableError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditAction(models.TextChoices):
    VIEW = "view", _("Viewed")
    CREATE = "create", _("Created")
    UPDATE = "update", _("Changed")
    DELETE = "delete", _("Deleted")
    EXPORT = "export", _("Exported / downloaded")
    TRANSITION = "transition", _("Status changed")
    SIGN = "sign", _("Signed")
    MODERATE = "moderate", _("Moderated")
    DENIED = "denied", _("Access refused")
    LOGIN = "login", _("Signed in")
    LOGOUT = "logout", _("Signed out")


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AuditImmutableError("Audit events are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditImmutableError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Who read or changed which patient's data, when and from where. Append-only.

    HIPAA 164.312(b) audit controls. The app never updates or deletes a row (the model and
    queryset refuse), and on PostgreSQL a trigger refuses it at the database too.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_actions",
        # Indexed by audit_actor_at, which leads with it.
        db_index=False,
    )
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_subject_events",
        # Indexed by audit_patient_at, which leads with it.
        db_index=False,
    )
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64, blank=True)
    # A short machine-readable note (e.g. "state: applied -> screened"); never clinical text.
    detail = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=32, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-at"], name="audit_patient_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_id} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditImmutableError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditImmutableError("Audit events are append-only.")
