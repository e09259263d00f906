"""Control characters in any text input (issue 24 item 8): the shared rule and the
middleware that applies it to every query string, form post and JSON body."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.core.text import has_control_chars, json_has_control_chars, validate_text

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("char", [chr(c) for c in range(32) if chr(c) not in "\t\n\r"])
def test_every_c0_control_but_tab_newline_and_cr_is_refused(char):
    assert has_control_chars(f"a{char}b")
    assert json_has_control_chars({"k": ["ok", {"deep": f"a{char}"}]})
    assert json_has_control_chars({f"key{char}": 1})


def test_tab_newline_cr_and_ordinary_text_pass():
    assert not has_control_chars("Tab\there\r\nnew line, émoji 🙂, \x7f")
    assert not json_has_control_chars({"a": ["b\n", 1, None, True]})
    validate_text("fine\ttext")


def test_query_string_with_nul_is_a_400_not_a_500(client, login, patient):
    login(client, patient)
    response = client.get(reverse("homework:index"), {"q": "a\x00b"})
    assert response.status_code == 400
    assert "control character" in response.content.decode()


def test_json_body_with_escaped_nul_gets_a_json_400(client, login, patient):
    login(client, patient)
    response = client.post(
        reverse("homework:index"),
        data=json.dumps({"text": "a\u0000b"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_text"


def test_htmx_post_gets_a_fragment_to_swap(client, login, patient):
    login(client, patient)
    response = client.post(reverse("progress:checkin"), {"note": "\x00"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    body = response.content.decode()
    assert 'role="alert"' in body and "<html" not in body


def test_forged_post_with_nul_is_still_refused_by_csrf_first(patient):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post(reverse("progress:checkin"), {"note": "\x00"})
    assert response.status_code == 403  # CSRF answers first, as for any forged post
