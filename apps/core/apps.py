from django.apps import AppConfig
from django.apps import apps as django_apps
from django.db.models.signals import post_delete, post_save


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.core import checks, fragments, nav

        del checks  # registers the system checks

        nav.register_defaults()

        # Per model, not for every sender: a post_delete listener stops Django's fast
        # (single-statement) cascade delete, which the untracked tables keep.
        for model in django_apps.get_models():
            if fragments.tracked(model):
                uid = model._meta.label_lower
                post_save.connect(fragments.on_save_or_delete, sender=model, dispatch_uid=uid)
                post_delete.connect(fragments.on_save_or_delete, sender=model, dispatch_uid=uid)
