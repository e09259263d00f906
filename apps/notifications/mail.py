"""The SMTP backend for notifications: records the hand-over at SMTP's own commit point.

A mail server takes responsibility for a message only when it receives the end-of-data
marker (the lone ``.`` line after DATA, RFC 5321 §4.1.1.4) and a connection that closes
before it aborts the transaction. So a worker that dies before sending that line has
delivered nothing. This backend (Django's own, with one change) calls the caller's
``hand_over`` after the message body is on the wire and just before the end-of-data line:
the outbox row is "outcome unknown" only if the worker dies while the server answers, not
during the connect, the envelope and the body. If ``hand_over`` declines (the row was
taken back) or raises, the connection is dropped before the end-of-data line and the
server discards the message. If the answer to the end-of-data line is lost (a timeout, a
dropped connection), ``OutcomeUnknown`` is raised: the server may have the message, so it
is not simply retried.

``conf.email_backend()`` uses it wherever Django's SMTP backend is configured. Backends
without ``send_handing_over`` (console, file, a provider's API) are handed over before the
call instead (``dispatch._email_sender``).
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend

HandOver = Callable[[], bool]

_LEADING_DOT = re.compile(rb"(?m)^\.")


class HandOverDeclined(Exception):
    """``hand_over`` answered False: the message was not delivered and must not be."""


class OutcomeUnknown(Exception):
    """The end-of-data line went out (or may have) and the server's answer was lost: it may
    have taken the message. Not a failure to retry blindly (``dispatch`` reads the flag)."""

    outcome_unknown = True


def _data_handing_over(
    smtp: smtplib.SMTP, hand_over: HandOver, msg: bytes | str
) -> tuple[int, bytes]:
    """``smtplib.SMTP.data`` with ``hand_over`` called before the end-of-data line."""
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    # Django passes bytes with CRLF line ends; smtplib would send a str as ASCII.
    body = _LEADING_DOT.sub(b"..", msg.encode("ascii") if isinstance(msg, str) else bytes(msg))
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    smtp.send(body)
    try:
        accepted = hand_over()
    except BaseException:
        smtp.close()  # mid-DATA: the server discards the message
        raise
    if not accepted:
        smtp.close()
        raise HandOverDeclined
    try:
        smtp.send(b".\r\n")
        return smtp.getreply()
    except OSError as exc:  # a timeout, a reset, smtplib.SMTPServerDisconnected
        smtp.close()
        raise OutcomeUnknown(type(exc).__name__) from exc


class _SMTP(smtplib.SMTP):
    hand_over: HandOver | None = None

    def data(self, msg: Any) -> tuple[int, bytes]:
        if self.hand_over is None:
            return super().data(msg)
        return _data_handing_over(self, self.hand_over, msg)


class _SMTP_SSL(_SMTP, smtplib.SMTP_SSL):  # noqa: N801 - smtplib's name
    """The same ``data``, over TLS from the first byte (MRO: _SMTP, SMTP_SSL, SMTP)."""


class HandOverSMTPBackend(DjangoSMTPBackend):
    """Django's SMTP backend whose connection records the hand-over at end of data."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _SMTP_SSL if self.use_ssl else _SMTP

    def send_handing_over(self, message: EmailMessage, hand_over: HandOver) -> bool:
        """Send one message on the open connection, calling ``hand_over`` just before the
        server can take it. False when ``hand_over`` declined (nothing was delivered)."""
        if self.connection is None:
            self.open()
        smtp = self.connection
        assert isinstance(smtp, _SMTP)
        smtp.hand_over = hand_over
        try:
            message.connection = self
            message.send()
        except HandOverDeclined:
            self.connection = None  # closed mid-DATA: the next send opens a new one
            return False
        except OutcomeUnknown:
            self.connection = None  # closed: the next send opens a new one
            raise
        finally:
            smtp.hand_over = None
        return True
