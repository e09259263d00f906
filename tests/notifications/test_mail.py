"""The SMTP backend that records the hand-over at SMTP's commit point (``mail.py``), against
a real SMTP server (aiosmtpd) on loopback: the server takes a message only at the end of
data, so a worker that stops before that line — declines, fails or is killed — delivered
nothing."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.mail import EmailMessage

from apps.notifications import conf, tasks
from apps.notifications.mail import HandOverSMTPBackend, OutcomeUnknown
from apps.notifications.models import Kind, Outbox, Status
from tests.factories import patient_in
from tests.notifications.helpers import due_emails


class Recorder:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.peers: list[tuple[str, int]] = []
        self.answer_after = 0.0  # seconds the server takes to answer the end of data

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope.original_content)
        self.peers.append(session.peer)
        await asyncio.sleep(self.answer_after)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def _settled(recorder: Recorder, expected: int) -> list[bytes]:
    """The server's messages once it had time to take any in flight (none should come)."""
    time.sleep(0.3)
    assert len(recorder.messages) == expected
    return recorder.messages


def _message(n: int = 1) -> EmailMessage:
    # A body line that starts with a dot must arrive as written (dot-stuffing).
    return EmailMessage(
        subject=f"Reminder {n}",
        body=f"Hi Pat,\n.your group starts at 6:00 PM\n{n}\n",
        to=["pat@example.test"],
        from_email="no-reply@virtualiop.test",
    )


def _backend(controller, timeout: float = 10) -> HandOverSMTPBackend:
    return HandOverSMTPBackend(host=controller.hostname, port=controller.port, timeout=timeout)


def test_the_hand_over_comes_after_the_body_and_before_the_server_takes_it(smtp_server):
    controller, recorder = smtp_server
    backend = _backend(controller)
    seen = []

    def hand_over() -> bool:
        seen.append(len(recorder.messages))  # the body is on the wire, not yet taken
        return True

    try:
        assert backend.send_handing_over(_message(), hand_over) is True
    finally:
        backend.close()
    assert seen == [0]
    (received,) = _settled(recorder, 1)
    assert b"\r\n.your group starts at 6:00 PM\r\n" in received
    assert b"Subject: Reminder 1" in received


def test_a_declined_hand_over_delivers_nothing_and_the_next_message_goes(smtp_server):
    controller, recorder = smtp_server
    backend = _backend(controller)
    try:
        assert backend.send_handing_over(_message(1), lambda: False) is False
        _settled(recorder, 0)
        assert backend.send_handing_over(_message(2), lambda: True) is True
    finally:
        backend.close()
    (received,) = _settled(recorder, 1)
    assert b"Subject: Reminder 2" in received


def test_a_hand_over_that_fails_delivers_nothing(smtp_server):
    controller, recorder = smtp_server
    backend = _backend(controller)

    def broken() -> bool:
        raise ConnectionError("database gone")

    try:
        with pytest.raises(ConnectionError):
            backend.send_handing_over(_message(), broken)
    finally:
        backend.close()
    _settled(recorder, 0)


def test_a_lost_answer_to_the_end_of_data_is_an_unknown_outcome_not_a_failure(smtp_server):
    controller, recorder = smtp_server
    recorder.answer_after = 2  # the server takes the message; its "250" comes too late
    backend = _backend(controller, timeout=0.5)
    try:
        with pytest.raises(OutcomeUnknown):
            backend.send_handing_over(_message(1), lambda: True)
        recorder.answer_after = 0
        assert backend.send_handing_over(_message(2), lambda: True) is True  # reconnects
    finally:
        backend.close()
    assert len(_settled(recorder, 2)) == 2  # the first one did arrive: sending it again would
    # have been a duplicate


KILLED_IN_HAND_OVER = """
import os, signal, sys
from django.conf import settings
settings.configure()
from django.core.mail import EmailMessage
from apps.notifications.mail import HandOverSMTPBackend

backend = HandOverSMTPBackend(host="127.0.0.1", port=int(sys.argv[1]), timeout=10)
message = EmailMessage("Reminder", "Hi Pat", "no-reply@virtualiop.test", ["pat@example.test"])
backend.send_handing_over(message, lambda: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_a_worker_killed_while_handing_over_delivered_nothing(smtp_server):
    controller, recorder = smtp_server
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", KILLED_IN_HAND_OVER, str(controller.port)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    _settled(recorder, 0)


def test_the_tls_connection_hands_over_at_the_end_of_data_too():
    from apps.notifications.mail import _SMTP

    smtp_class = HandOverSMTPBackend(host="127.0.0.1", port=1, use_ssl=True).connection_class
    assert issubclass(smtp_class, smtplib.SMTP_SSL)
    assert smtp_class.data is _SMTP.data


def test_notifications_use_it_where_django_smtp_is_configured(settings):
    settings.NOTIFICATIONS_EMAIL_BACKEND = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert conf.email_backend() == "apps.notifications.mail.HandOverSMTPBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert conf.email_backend() == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.django_db
def test_a_batch_of_reminders_goes_over_one_smtp_connection_each_once(
    smtp_server, program, settings
):
    controller, recorder = smtp_server
    _smtp_settings(settings, controller)
    for n in range(3):
        user = patient_in(program, email=f"smtp{n}@example.test", full_name=f"Pat{n} Member")
        due_emails(user, 1, prefix=f"scheduling.x{n}")
    assert tasks.deliver_due() == 3
    received = _settled(recorder, 3)
    assert len(set(recorder.peers)) == 1  # one connection for the batch
    ids = Counter(
        line.split(b":", 1)[1].strip()
        for message in received
        for line in message.split(b"\r\n")
        if line.startswith(b"X-Notification-Id:")
    )
    assert sorted(ids) == sorted(
        str(pk).encode() for pk in Outbox.objects.values_list("pk", flat=True)
    )
    assert set(ids.values()) == {1}
    assert set(Outbox.objects.values_list("status", flat=True)) == {Status.SENT}
    assert mail.outbox == []  # it really went over SMTP


def _smtp_settings(settings, controller, timeout=10):
    settings.NOTIFICATIONS_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = timeout


@pytest.mark.django_db
def test_a_reminder_whose_answer_was_lost_is_not_sent_again_but_a_safety_alert_is(
    smtp_server, patient, clinician, settings
):
    controller, recorder = smtp_server
    _smtp_settings(settings, controller, timeout=0.5)
    recorder.answer_after = 1.5
    due_emails(patient, 1, kind=Kind.SESSION_REMINDER, prefix="test.lost")
    due_emails(clinician, 1, kind=Kind.SAFETY_ALERT, prefix="test.lost")
    assert tasks.deliver_due() == 2
    reminder = Outbox.objects.get(kind=Kind.SESSION_REMINDER)
    alert = Outbox.objects.get(kind=Kind.SAFETY_ALERT)
    assert reminder.status == Status.UNKNOWN
    assert "answer was lost" in reminder.last_error and "@" not in reminder.last_error
    assert alert.status == Status.PENDING and alert.last_error.startswith("OutcomeUnknown")
    assert len(_settled(recorder, 2)) == 2  # both had in fact arrived
