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
    """``around_email_send(hook)``: each e-mail hand-over calls ``hook(row, send)`` instead
    of ``send()``, once the row is in ``handover`` — a test can stall, fail or look at the
    outbox in the middle of a send."""
    from apps.notifications import dispatch

    def install(hook):
        real = dispatch._email_sender

        def sender(row, message, batch):
            send = real(row, message, batch)
            return lambda: hook(row, send)

        monkeypatch.setattr(dispatch, "_email_sender", sender)

    return install
