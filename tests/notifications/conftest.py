from __future__ import annotations

import pytest

from apps.notifications import sms


@pytest.fixture(autouse=True)
def _clean_sms_outbox():
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def around_email_send(monkeypatch):
    """``around_email_send(hook)``: the provider call of each notification e-mail becomes
    ``hook(row, send)`` (the row already in ``handover``) — a test can stall, fail or look at
    the outbox in the middle of a send."""
    from apps.notifications import dispatch
    from apps.notifications.models import Outbox

    def install(hook):
        real = dispatch.EmailMultiAlternatives.send

        def send(email, fail_silently=False):
            row = Outbox.objects.get(pk=int(email.extra_headers["X-Notification-Id"]))
            result = []
            hook(row, lambda: result.append(real(email, fail_silently)))
            return result[0] if result else 0

        monkeypatch.setattr(dispatch.EmailMultiAlternatives, "send", send)

    return install
