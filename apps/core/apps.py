from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from apps.core import nav

        nav.register_defaults()

        from django.db.models.signals import m2m_changed, post_delete, post_save

        from apps.core import fragments

        post_save.connect(fragments.on_save_or_delete, dispatch_uid="fragments-save")
        post_delete.connect(fragments.on_save_or_delete, dispatch_uid="fragments-delete")
        m2m_changed.connect(fragments.on_m2m_changed, dispatch_uid="fragments-m2m")
