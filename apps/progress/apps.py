from django.apps import AppConfig


class ProgressConfig(AppConfig):
    """Measurement-based care: daily check-ins, repeated measures, progress charts, caseload."""

    name = "apps.progress"
    label = "progress"
