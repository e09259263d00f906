from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.core import nav
from apps.core.fragments import user_scope


def checkin_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    """The patient's "Check in" card: today's check-in and any measures due."""
    from apps.progress import selectors  # apps.py loads before the models

    user: Any = request.user
    if not user.is_authenticated or user.role != "patient":
        return None
    if selectors.patient_program(user) is None:
        return None
    today = selectors.local_today(user)
    return "progress/partials/checkin_panel.html", {
        "today": today,
        "checkin": selectors.checkin_for_day(patient=user, day=today),
        "due": selectors.measures_due(patient=user),
    }


def _checkin_scopes(request: HttpRequest) -> list[str]:
    # Check-ins, responses and the application point at the patient; the measure schedule,
    # the program and enrollment's other tables are shared.
    return [
        user_scope(request.user),
        "progress.measureschedule",
        "programs.program",
        "app:enrollment",
    ]


def _checkin_day(request: HttpRequest) -> list[Any]:
    from apps.progress import selectors  # apps.py loads before the models

    return [selectors.local_today(request.user)]  # type: ignore[arg-type]


class ProgressConfig(AppConfig):
    """Measurement-based care: daily check-ins, repeated measures, progress charts, caseload."""

    name = "apps.progress"
    label = "progress"

    def ready(self) -> None:
        # These import models: not before ready().
        from apps.notifications import guards
        from apps.progress import reminders
        from apps.progress.services import MEASURE_DUE_PREFIX, measure_due_guard

        reminders.register()  # its reminders and send-time guards (notifications.planning)
        nav.register_link(
            roles={"patient"}, label=_("My progress"), url_name="progress:mine", order=40
        )
        nav.register_link(
            roles={"clinician"}, label=_("Caseload"), url_name="progress:caseload", order=15
        )
        nav.register_link(
            roles={"admin"}, label=_("Outcomes"), url_name="progress:outcomes", order=80
        )
        # After the live room (5) and the week's next session (10), before homework (30).
        nav.register_panel(
            role="patient",
            order=20,
            key="checkin",
            render=checkin_panel,
            cache=nav.PanelCache(scopes=_checkin_scopes, vary=_checkin_day),
        )

        guards.register(
            name="progress-measure-due", prefix=MEASURE_DUE_PREFIX, guard=measure_due_guard
        )
        # Declared in code; django-celery-beat's DatabaseScheduler installs it at start.
        settings.CELERY_BEAT_SCHEDULE["progress-measure-reminders"] = {
            "task": "progress.plan_measure_reminders",
            "schedule": 3600.0,
        }
