from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from apps.audit.admin_audit import audit_admin_write

        post_save.connect(audit_admin_write, sender=LogEntry, dispatch_uid="audit-admin-write")
