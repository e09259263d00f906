from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from apps.core import nav


class SchedulingConfig(AppConfig):
    name = "apps.scheduling"
    label = "scheduling"
    verbose_name = _("Scheduling")

    def ready(self) -> None:
        from apps.scheduling import panels, reminders  # they import models: not before ready()

        reminders.register()  # its reminders and send-time guards (notifications.planning)
        # Declared in code; django-celery-beat's DatabaseScheduler installs it at start.
        settings.CELERY_BEAT_SCHEDULE["scheduling-extend-sessions"] = {
            "task": "scheduling.extend_sessions",
            "schedule": 6 * 3600.0,
        }
        settings.CELERY_BEAT_SCHEDULE["scheduling-expire-seat-offers"] = {
            "task": "scheduling.expire_seat_offers",
            "schedule": 10 * 60.0,
        }
        # Seat offers (group waitlists): never cached, they expire by the minute.
        nav.register_panel(role="patient", order=3, key="seat-offers", render=panels.patient_offers)
        nav.register_panel(
            role="clinician", order=8, key="seat-offers", render=panels.staff_offers_home
        )
        nav.register_panel(
            role="today", order=5, key="seat-offers", render=panels.staff_offers_today
        )
        nav.register_link(
            roles={"patient"}, label=_("My week"), url_name="scheduling:my_week", order=20
        )
        nav.register_link(
            roles={"clinician"}, label=_("Today"), url_name="scheduling:today", order=20
        )
        nav.register_link(
            roles={"clinician", "admin"},
            label=_("Groups"),
            url_name="scheduling:group_list",
            order=25,
        )
        nav.register_panel(
            role="patient",
            order=10,
            key="week",
            render=panels.patient_week,
            cache=panels.PATIENT_WEEK_CACHE,
        )
        nav.register_panel(
            role="clinician",
            order=10,
            key="groups-today",
            render=panels.clinician_today,
        )
