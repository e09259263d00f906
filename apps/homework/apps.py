from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HomeworkConfig(AppConfig):
    name = "apps.homework"
    label = "homework"
    verbose_name = _("Homework")

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.core import nav
        from apps.homework import panels, reminders, selectors, services
        from apps.scheduling import extensions

        reminders.register()  # its reminders and send-time guards (notifications.planning)
        nav.register_link(
            roles={"patient"}, label=_("Homework"), url_name="homework:index", order=40
        )
        nav.register_link(
            roles={"clinician"}, label=_("Homework"), url_name="homework:review", order=40
        )
        nav.register_panel(
            role="patient",
            order=30,
            key="homework",
            render=panels.patient_panel,
            cache=panels.PATIENT_CACHE,
        )
        nav.register_panel(
            role="clinician", order=30, key="homework_review", render=panels.clinician_panel
        )
        # Curriculum topics name modules by slug; scheduling validates against these.
        extensions.register_module_catalogue(selectors.module_catalogue)
        # Late joiners get the group's open assignments.
        extensions.register_membership_activated(
            key="homework",
            hook=lambda m, by: services.group_homework_give_to_new_member(membership=m, by=by),
        )
        # "Homework after this session" on the staff session page.
        extensions.register_session_section(key="homework", order=10, render=panels.session_section)
