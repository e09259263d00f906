"""Text messages through a small backend interface.

``SMS_BACKEND`` picks one: ``console`` (development: printed with the worker's output),
``file`` (JSON lines under ``VAR_DIR``), ``locmem`` (tests: ``sms.outbox``), ``twilio``
(Twilio's REST API over HTTPS), or a dotted path to a class with ``send(*, to, body) -> str``.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string


class SmsError(Exception):
    """A send failed. ``transient`` errors are retried; others mark the row failed.
    ``outcome_unknown``: the request reached the provider and its answer was lost, so the
    text may be on its way (a reminder is then not sent again; a safety alert is)."""

    def __init__(self, message: str, *, transient: bool, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.outcome_unknown = outcome_unknown


class SmsBackend(Protocol):
    def send(self, *, to: str, body: str) -> str:
        """Send ``body`` to ``to`` (E.164); return the provider's message id."""
        ...


class ConsoleSmsBackend:
    def send(self, *, to: str, body: str) -> str:
        stamp = timezone.now().isoformat()
        sys.stdout.write(f"----- SMS to {to} at {stamp} -----\n{body}\n{'-' * 40}\n")
        sys.stdout.flush()
        return f"console-{stamp}"


class FileSmsBackend:
    _lock = threading.Lock()

    def send(self, *, to: str, body: str) -> str:
        path = Path(settings.SMS_FILE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().isoformat()
        with self._lock, path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"to": to, "body": body, "at": stamp}) + "\n")
        return f"file-{stamp}"


@dataclass
class SentSms:
    to: str
    body: str


outbox: list[SentSms] = []


class LocmemSmsBackend:
    def send(self, *, to: str, body: str) -> str:
        outbox.append(SentSms(to=to, body=body))
        return f"locmem-{len(outbox)}"


class TwilioSmsBackend:
    """Twilio's Messages API (form-encoded POST, HTTP basic auth). No SDK needed."""

    timeout = 10

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "https://api.twilio.com",
    ) -> None:
        if not (account_sid and auth_token and from_number):
            raise ImproperlyConfigured(
                "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER."
            )
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.base_url = base_url.rstrip("/")

    def send(self, *, to: str, body: str) -> str:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        data = urllib.parse.urlencode({"To": to, "From": self.from_number, "Body": body})
        auth = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - the URL is https:// from settings
            url,
            data=data.encode(),
            method="POST",
            headers={
                "Authorization": f"Basic {auth}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = json.loads(response.read().decode() or "{}")
        except urllib.error.HTTPError as exc:
            code = _twilio_error_code(exc)
            transient = exc.code == 429 or exc.code >= 500
            raise SmsError(f"twilio http {exc.code} code {code}", transient=transient) from exc
        except urllib.error.URLError as exc:
            # urlopen wraps what fails while connecting and sending: Twilio has no request.
            raise SmsError(f"twilio unreachable ({type(exc).__name__})", transient=True) from exc
        except (TimeoutError, OSError) as exc:
            # The request went out and the answer was lost: Twilio may have queued the text.
            raise SmsError(
                f"twilio answer lost ({type(exc).__name__})", transient=True, outcome_unknown=True
            ) from exc
        except ValueError as exc:
            raise SmsError(
                "twilio answered with invalid JSON", transient=True, outcome_unknown=True
            ) from exc
        sid = payload.get("sid")
        if not sid:
            raise SmsError(
                "twilio answer without a message sid", transient=True, outcome_unknown=True
            )
        return str(sid)


def _twilio_error_code(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read().decode() or "{}").get("code", "?"))
    except (ValueError, OSError):
        return "?"


_ALIASES: dict[str, type[SmsBackend]] = {
    "console": ConsoleSmsBackend,
    "file": FileSmsBackend,
    "locmem": LocmemSmsBackend,
}


def get_backend() -> SmsBackend:
    name = settings.SMS_BACKEND
    if name == "twilio":
        return TwilioSmsBackend(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            from_number=settings.TWILIO_FROM_NUMBER,
            base_url=settings.TWILIO_API_BASE,
        )
    if name in _ALIASES:
        backend: SmsBackend = _ALIASES[name]()
        return backend
    try:
        return import_string(name)()
    except ImportError as exc:
        raise ImproperlyConfigured(f"Unknown SMS_BACKEND {name!r}.") from exc
