"""Signed clinical records are never changed or deleted, admin included: a correction is a new
row (a new plan version, an addendum) that keeps the original. Signed treatment plans, consent
signatures and measure responses use it; signed notes will too."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


class SignedRecordError(ValidationError):
    pass


class SignedRecord:
    """Model mixin: ``save`` and ``delete`` refuse a row whose stored version is signed.
    (Signing itself is a conditional ``update`` of an unsigned row, as the services do.)"""

    pk: Any

    def is_signed(self) -> bool:
        raise NotImplementedError

    def _stored_is_signed(self) -> bool:
        if self.pk is None:
            return False
        stored = type(self)._base_manager.filter(pk=self.pk).first()  # type: ignore[attr-defined]
        return stored is not None and stored.is_signed()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._stored_is_signed():
            raise SignedRecordError(
                _("A signed record cannot be changed; add an amendment or a new version.")
            )
        super().save(*args, **kwargs)  # type: ignore[misc]

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if self._stored_is_signed():
            raise SignedRecordError(_("A signed record cannot be deleted."))
        return super().delete(*args, **kwargs)  # type: ignore[misc]


class SignedRecordAdmin(admin.ModelAdmin):
    """Admin for a ``SignedRecord`` model: a signed row can be read, never changed or
    deleted (no change or delete permission on it, so admin shows it read-only)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_signed():
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_signed():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> Any:
        # "Delete selected" deletes through the queryset, past each row's own refusal.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
