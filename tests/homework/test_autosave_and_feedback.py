"""Homework rough edges from issue 29, item 20: one way to save (autosave, with a Save button
only for a browser without JavaScript) and quiz feedback that does not echo the option."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.homework.factories import assign

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def breathing(modules, clinician, patient):
    return assign(clinician, patient, modules["paced-breathing"])


def test_steps_have_no_visible_save_button_only_a_noscript_fallback(
    client, login, patient, breathing
):
    login(client, patient)
    body = client.get(reverse("homework:work", args=[breathing.pk])).content.decode()
    assert "save automatically as you type" in body
    outside = re.sub(r"<noscript>.*?</noscript>", "", body, flags=re.S)
    assert ">Save</button>" not in outside
    assert body.count('<noscript><button type="submit"') >= 1


def test_quiz_feedback_is_the_options_own_words_without_echoing_it(
    client, login, patient, breathing
):
    login(client, patient)
    url = reverse("homework:step_save", args=[breathing.pk, "check-understanding"])
    body = client.post(url, {"choice": "longer-out", "seq": "1"}, **HTMX).content.decode()
    assert "Yes. The longer exhale is what helps your body slow down." in body
    assert "in-breath: Yes" not in body
    assert "Making the out-breath slower and longer" not in body.split("hw-quiz-feedback")[1]
    wrong = client.post(url, {"choice": "hold", "seq": "2"}, **HTMX).content.decode()
    assert "Not quite." in wrong  # for screen readers; the mark shows it on screen
    assert "Holding your breath tends to raise tension" in wrong
