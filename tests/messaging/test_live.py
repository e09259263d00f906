"""Live updates: a stored message is announced to the thread's participants after commit,
with ids only; an open page fetches what came after the last message it shows, with the
page's own access checks and audit."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.audit.models import AuditAction, AuditEvent
from apps.core import events
from apps.messaging import services
from apps.messaging.models import Audience, Message
from tests.factories import clinician_in
from tests.messaging.conftest import cid, png_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(monkeypatch):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "group_send_now", lambda group, event: sent.append((group, event)))
    return sent


def _start(patient, **kw):
    args = {
        "by": patient,
        "audience": Audience.CLINICAL,
        "subject": "Sleep",
        "body": "I slept badly and feel hopeless about the plan",
        "client_id": cid(),
    }
    return services.thread_start(**{**args, **kw})[0]


def test_a_message_is_announced_after_commit_to_participants_with_ids_only(
    patient, clinician, program, pushed, django_capture_on_commit_callbacks
):
    bystander = clinician_in(program)  # sees the thread in their inbox; not a participant
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        thread = _start(patient)
        assert pushed == []  # nothing is broadcast before the commit
    for callback in callbacks:
        callback()
    message = Message.objects.get()
    groups = {group for group, _event in pushed}
    assert groups == {f"user.{patient.pk}", f"user.{clinician.pk}"}
    assert f"user.{bystander.pk}" not in groups
    for _group, event in pushed:
        assert event == {
            "type": "user.event",
            "payload": {
                "type": "message",
                "thread": thread.pk,
                "message": message.pk,
                "badges": True,
            },
        }
        assert "hopeless" not in json.dumps(event) and "Sleep" not in json.dumps(event)

    # Someone who opened the thread hears of the next message too.
    pushed.clear()
    services.thread_read(thread=thread, user=bystander)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post(author=clinician, thread_id=thread.pk, body="Hi", client_id=cid())
    assert f"user.{bystander.pk}" in {group for group, _event in pushed}


def test_a_message_that_rolls_back_is_never_announced(
    patient, clinician, pushed, monkeypatch, django_capture_on_commit_callbacks
):
    def fail(**kwargs):
        raise RuntimeError

    monkeypatch.setattr("apps.messaging.services.notification_schedule", fail)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        _start(patient)
    assert pushed == [] and not Message.objects.exists()


def test_the_page_fetches_only_what_came_after_its_last_message(client, login, patient, clinician):
    thread = _start(patient)
    first = Message.objects.get()
    services.message_post(
        author=clinician,
        thread_id=thread.pk,
        body="**Call** us",
        client_id=cid(),
        upload=png_upload(),
    )
    second = Message.objects.exclude(pk=first.pk).get()
    login(client, patient)
    page = client.get(reverse("messaging:thread", args=[thread.pk])).content.decode()
    assert f'data-last-id="{second.pk}"' in page and f'id="msg-{second.pk}"' in page
    url = reverse("messaging:since", args=[thread.pk])
    mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    response = client.get(url, {"after": first.pk})
    html = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    assert f'data-message-id="{second.pk}"' in html and f'data-message-id="{first.pk}"' not in html
    assert "<strong>Call</strong>" in html and "Download attachment" in html
    assert AuditEvent.objects.filter(
        pk__gt=mark, actor=patient, action=AuditAction.VIEW, detail="thread read"
    ).exists()
    # Nothing newer: an empty list, and no read recorded.
    mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert "data-message-id" not in client.get(url, {"after": second.pk}).content.decode()
    assert not AuditEvent.objects.filter(pk__gt=mark).exists()


@pytest.mark.parametrize("after", ["abc", "-5", "99999999999999999999", ""])
def test_a_bad_after_is_read_as_from_the_start(client, login, patient, after):
    thread = _start(patient)
    login(client, patient)
    response = client.get(reverse("messaging:since", args=[thread.pk]), {"after": after})
    assert response.status_code == 200 and "data-message-id" in response.content.decode()


def test_a_nul_in_after_is_a_bad_request_not_an_error(client, login, patient):
    thread = _start(patient)
    login(client, patient)
    response = client.get(reverse("messaging:since", args=[thread.pk]), {"after": "1\x00"})
    assert response.status_code == 400


def test_others_cannot_fetch_a_threads_messages(client, login, patient, outsider, other_clinician):
    thread = _start(patient)
    url = reverse("messaging:since", args=[thread.pk])
    for user in (outsider, other_clinician):
        login(client, user)
        assert client.get(url, {"after": 0}).status_code == 404
        client.logout()
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post(url).status_code in (302, 405)
