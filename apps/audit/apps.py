from django.apps import AppConfig
from django.db.models.signals import post_save


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from django.contrib.admin.models import LogEntry

        from apps.audit.admin_audit import audit_admin_write

        post_save.connect(audit_admin_write, sender=LogEntry, dispatch_uid="audit-admin-write")
