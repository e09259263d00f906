"""The admin site's own rules: actions posted with malformed ids change nothing and answer
with a message (Django would pass them to the ORM and fail with a 500), for every model
admin, after the site's permission check."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.notifications.models import Outbox, Status
from apps.programs.models import Program

pytestmark = pytest.mark.django_db

MALFORMED = ["12abc", "", "1; DROP TABLE x", "9" * 40]


def _unknown_row(user):
    return Outbox.objects.create(
        recipient=user,
        kind="session_reminder",
        channel="email",
        event_key="x.y:1",
        dedupe_key=f"{user.pk}|x.y:1|session_reminder|email",
        due_at=timezone.now(),
        status=Status.UNKNOWN,
    )


@pytest.mark.parametrize("bad", MALFORMED)
def test_an_action_with_a_malformed_id_changes_nothing_and_says_so(
    client, login, admin, patient, bad
):
    row = _unknown_row(patient)
    login(client, admin)
    url = reverse("admin:notifications_outbox_changelist") + "?status__exact=unknown"
    response = client.post(url, {"action": "retry_failed", "_selected_action": [str(row.pk), bad]})
    assert response.status_code == 302 and response["Location"] == url
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "The selection was not understood; nothing changed."
    ]
    row.refresh_from_db()
    assert row.status == Status.UNKNOWN


def test_a_default_model_admin_is_covered_too(client, login, admin, program):
    login(client, admin)
    response = client.post(
        reverse("admin:programs_program_changelist"),
        {"action": "delete_selected", "_selected_action": [str(program.pk), "x"], "post": "yes"},
    )
    assert response.status_code == 302
    assert Program.objects.filter(pk=program.pk).exists()


def test_the_permission_check_still_comes_first(client, login, patient, clinician):
    row = _unknown_row(patient)
    url = reverse("admin:notifications_outbox_changelist")
    data = {"action": "retry_failed", "_selected_action": [str(row.pk), "x"]}
    response = client.post(url, data)  # logged out
    assert response.status_code == 302 and "/login/" in response["Location"]
    login(client, clinician)
    response = client.post(url, data)
    assert response.status_code in (302, 403)
    assert "selection was not understood" not in str(list(get_messages(response.wsgi_request)))
    row.refresh_from_db()
    assert row.status == Status.UNKNOWN


def test_a_well_formed_selection_still_runs_the_action(client, login, admin, patient):
    row = _unknown_row(patient)
    login(client, admin)
    client.post(
        reverse("admin:notifications_outbox_changelist"),
        {"action": "retry_failed", "_selected_action": [str(row.pk)]},
    )
    row.refresh_from_db()
    assert row.status == Status.PENDING
