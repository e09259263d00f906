"""SMS backends. Twilio is exercised against a recorded fake at the HTTP boundary: a local
HTTP server that answers with Twilio's recorded responses — no network."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.notifications import sms

# Recorded from Twilio's API reference (Messages resource), trimmed.
CREATED = {
    "account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "api_version": "2010-04-01",
    "body": "Virtual IOP: ...",
    "direction": "outbound-api",
    "error_code": None,
    "from": "+15005550006",
    "sid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "status": "queued",
    "to": "+14155550100",
    "uri": "/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages/SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX.json",
}
INVALID_TO = {
    "code": 21211,
    "message": "The 'To' number +1415 is not a valid phone number.",
    "more_info": "https://www.twilio.com/docs/errors/21211",
    "status": 400,
}
RATE_LIMITED = {"code": 20429, "message": "Too Many Requests", "status": 429}


class FakeTwilio:
    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list[tuple[int, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                fake.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "form": urllib.parse.parse_qs(self.rfile.read(length).decode()),
                    }
                )
                status, body = fake.replies.pop(0) if fake.replies else (201, CREATED)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def twilio():
    fake = FakeTwilio()
    yield fake
    fake.close()


def _backend(twilio):
    return sms.TwilioSmsBackend(
        account_sid="AC123", auth_token="secret", from_number="+15005550006", base_url=twilio.url
    )


def test_twilio_posts_the_message_form_with_basic_auth(twilio):
    sid = _backend(twilio).send(to="+14155550100", body="Your group starts at 6:00 PM (Pacific).")
    assert sid == CREATED["sid"]
    (request,) = twilio.requests
    assert request["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request["auth"] == "Basic " + base64.b64encode(b"AC123:secret").decode()
    assert request["form"] == {
        "To": ["+14155550100"],
        "From": ["+15005550006"],
        "Body": ["Your group starts at 6:00 PM (Pacific)."],
    }


def test_twilio_invalid_number_is_a_permanent_error(twilio):
    twilio.replies.append((400, INVALID_TO))
    with pytest.raises(sms.SmsError) as info:
        _backend(twilio).send(to="+1415", body="x")
    assert info.value.transient is False
    assert "21211" in str(info.value) and "+1415" not in str(info.value)  # no number in errors


@pytest.mark.parametrize("status", [429, 500, 503])
def test_twilio_rate_limit_and_server_errors_are_transient(twilio, status):
    twilio.replies.append((status, RATE_LIMITED))
    with pytest.raises(sms.SmsError) as info:
        _backend(twilio).send(to="+14155550100", body="x")
    assert info.value.transient is True


def test_twilio_unreachable_is_transient():
    backend = sms.TwilioSmsBackend(
        account_sid="AC1", auth_token="t", from_number="+1", base_url="http://127.0.0.1:9"
    )
    with pytest.raises(sms.SmsError) as info:
        backend.send(to="+14155550100", body="x")
    assert info.value.transient is True
    assert info.value.outcome_unknown is False  # no request reached Twilio


@pytest.mark.parametrize("answer", ["late", "hung up", "garbled"])
def test_a_lost_twilio_answer_leaves_the_outcome_unknown(answer):
    """Twilio read the request; its answer never came back whole. It may have queued the
    text, so the error says so (a reminder is then not sent a second time)."""
    served = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            served.set()
            if answer == "late":
                time.sleep(1.5)  # a provider answering after the client's timeout (simulated)
            elif answer == "hung up":
                self.close_connection = True
                return
            raw = b"{not json" if answer == "garbled" else json.dumps(CREATED).encode()
            self.send_response(201)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = sms.TwilioSmsBackend(
            account_sid="AC1",
            auth_token="t",
            from_number="+1",
            base_url=f"http://127.0.0.1:{server.server_address[1]}",
        )
        backend.timeout = 0.5
        with pytest.raises(sms.SmsError) as info:
            backend.send(to="+14155550100", body="x")
    finally:
        server.shutdown()
        server.server_close()
    assert served.is_set()
    assert info.value.outcome_unknown is True and info.value.transient is True
    assert "+1415" not in str(info.value)


def test_twilio_backend_needs_its_settings(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ImproperlyConfigured):
        sms.get_backend()


def test_backend_chosen_by_setting(settings, tmp_path, capsys):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    sms.get_backend().send(to="+14155550100", body="hello")
    line = json.loads((tmp_path / "sms.jsonl").read_text())
    assert line["to"] == "+14155550100" and line["body"] == "hello"
    settings.SMS_BACKEND = "console"
    sms.get_backend().send(to="+14155550100", body="hi there")
    assert "hi there" in capsys.readouterr().out
    settings.SMS_BACKEND = "no.such.Backend"
    with pytest.raises(ImproperlyConfigured):
        sms.get_backend()
