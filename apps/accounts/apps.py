from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "People and roles"

    def ready(self) -> None:
        # Not at module top: these import models, which load after the app registry.
        from apps.accounts import signals
        from apps.accounts.mfa import staff_session_allowed
        from apps.accounts.middleware import session_idle_expired
        from apps.core.sessions import register_session_rule

        signals.connect_user_signals()
        # Sockets apply the same session rules as pages (apps/core/consumers.py).
        register_session_rule(staff_session_allowed)
        register_session_rule(lambda user, data: not session_idle_expired(data))
