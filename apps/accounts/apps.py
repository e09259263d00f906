from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "People and roles"

    def ready(self) -> None:
        from apps.accounts import signals

        signals.connect_user_signals()
