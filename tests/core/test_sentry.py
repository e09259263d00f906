"""Sentry events leave the process without anything that could identify a patient."""

from __future__ import annotations

import copy
import json

from apps.core import requestcontext
from apps.core.sentry import before_send, scrub_event, sentry_init

TOKEN = "S3CRETtokenZ9x"
NAME = "Zebediah Quartermaine"
EMAIL = "zebediah.q@example.test"
ANSWER = "I felt like drinking again on Tuesday"
PHONE = "+15550104471"
PHI = [TOKEN, NAME, EMAIL, ANSWER, PHONE, "203.0.113.9", "sessionid-value"]


def _django_error_event() -> dict:
    """What the Django, logging and Celery integrations attach to an error, abridged."""
    return {
        "level": "error",
        "platform": "python",
        "transaction": "/notifications/unsubscribe/<str:token>/",
        "request": {
            "url": f"https://iop.example.org/notifications/unsubscribe/{TOKEN}/",
            "method": "POST",
            "query_string": f"q={NAME}&phone={PHONE}",
            "data": {"answer": ANSWER, "csrfmiddlewaretoken": TOKEN},
            "cookies": {"sessionid": "sessionid-value", "csrftoken": TOKEN},
            "headers": {
                "Host": "iop.example.org",
                "User-Agent": "Mozilla/5.0",
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"sessionid=sessionid-value; csrftoken={TOKEN}",
                "Referer": f"https://iop.example.org/progress/caseload/?q={NAME}",
                "X-Forwarded-For": "203.0.113.9",
                "Authorization": f"Bearer {TOKEN}",
            },
            "env": {"REMOTE_ADDR": "203.0.113.9", "SERVER_NAME": "iop.example.org"},
        },
        "user": {"id": "42", "email": EMAIL, "username": EMAIL, "ip_address": "203.0.113.9"},
        "exception": {
            "values": [
                {
                    "type": "UniqueViolation",
                    "module": "psycopg.errors",
                    "value": f"duplicate key value violates unique constraint\n"
                    f"DETAIL:  Key (answer)=({ANSWER}) already exists.",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "apps/homework/services.py",
                                "function": "answer_save",
                                "lineno": 88,
                                "vars": {"body": ANSWER, "user": f"<User: {NAME}>"},
                            }
                        ]
                    },
                },
                {
                    "type": "IntegrityError",
                    "module": "django.db.utils",
                    "value": f"Key (answer)=({ANSWER}) already exists.",
                },
            ]
        },
        "logentry": {
            "message": "Internal Server Error: %s",
            "params": [f"/notifications/unsubscribe/{TOKEN}/"],
            "formatted": f"Internal Server Error: /notifications/unsubscribe/{TOKEN}/",
        },
        "breadcrumbs": {
            "values": [
                {
                    "type": "default",
                    "category": "query",
                    "message": f"SELECT * FROM accounts_user WHERE email = '{EMAIL}'",
                    "data": {"db.params": [EMAIL]},
                    "timestamp": "2026-12-05T13:51:31Z",
                },
                {
                    "type": "log",
                    "category": "apps.notifications.sms",
                    "level": "info",
                    "message": f"texting {PHONE} for {NAME}",
                    "timestamp": "2026-12-05T13:51:31Z",
                },
            ]
        },
        "extra": {
            "celery-job": {"task_name": "notifications.deliver", "args": [NAME], "kwargs": {}},
            "sys.argv": ["gunicorn"],
        },
        "threads": {
            "values": [{"stacktrace": {"frames": [{"function": "run", "vars": {"x": NAME}}]}}]
        },
    }


def test_a_scrubbed_event_holds_nothing_phi_like():
    event = scrub_event(_django_error_event(), {})
    text = json.dumps(event)
    for value in PHI:
        assert value not in text, value
    assert event["request"] == {
        "method": "POST",
        "url": "https://iop.example.org/notifications/unsubscribe/***/",
        "headers": {
            "Host": "iop.example.org",
            "User-Agent": "Mozilla/5.0",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    }
    assert event["user"] == {"id": "42"}


def test_a_scrubbed_event_still_says_what_failed_and_where():
    event = scrub_event(_django_error_event(), {})
    first, second = event["exception"]["values"]
    assert (first["type"], first["module"]) == ("UniqueViolation", "psycopg.errors")
    assert first["stacktrace"]["frames"][0]["function"] == "answer_save"
    assert second["type"] == "IntegrityError"
    assert event["logentry"]["message"] == "Internal Server Error: %s"
    assert [c["category"] for c in event["breadcrumbs"]["values"]] == [
        "query",
        "apps.notifications.sms",
    ]
    assert event["transaction"] == "/notifications/unsubscribe/***/"


def test_other_errors_keep_their_message():
    event = {"exception": {"values": [{"type": "TemplateDoesNotExist", "value": "x.html"}]}}
    assert scrub_event(copy.deepcopy(event), {}) == event


def test_before_send_tags_the_request_id():
    token = requestcontext.set_current(requestcontext.RequestContext("ab12", "203.0.113.9"))
    try:
        event = before_send(_django_error_event(), {})
    finally:
        requestcontext.reset(token)
    assert event["tags"]["request_id"] == "ab12"
    assert before_send({}, {})["tags"]["request_id"] == "-"


def test_sentry_is_told_to_collect_no_personal_data(monkeypatch):
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    seen: dict = {}
    monkeypatch.setattr(sentry_sdk, "init", lambda **kwargs: seen.update(kwargs))
    sentry_init(dsn="https://key@sentry.example.org/1", environment="production")
    assert seen["send_default_pii"] is False
    assert seen["include_local_variables"] is False
    assert seen["max_request_body_size"] == "never"
    assert seen["before_send"] is before_send
    assert {type(i) for i in seen["integrations"]} == {DjangoIntegration, CeleryIntegration}


def test_sentry_is_off_without_a_dsn(settings):
    import sentry_sdk

    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()
