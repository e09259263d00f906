from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.notifications.models import Outbox, Status

pytestmark = pytest.mark.django_db


def _row(user, n, status):
    return Outbox.objects.create(
        recipient=user,
        kind="general",
        channel="email",
        event_key=f"x.y:{n}",
        dedupe_key=f"{user.pk}|x.y:{n}|general|email",
        due_at=timezone.now(),
        status=status,
        sent_at=timezone.now() if status == Status.SENT else None,
        last_error="ConnectionRefusedError" if status == Status.FAILED else "",
    )


def test_admin_lists_the_outbox_with_status_filters(client, login, admin, patient):
    _row(patient, 1, Status.FAILED)
    _row(patient, 2, Status.SENT)
    login(client, admin)
    url = reverse("admin:notifications_outbox_changelist")
    page = client.get(url, {"status__exact": "failed"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "ConnectionRefusedError" in body
    assert "By status" in body or "status" in body
    assert page.context["cl"].result_count == 1


def test_admin_retry_action_requeues_failed_rows_only(client, login, admin, patient):
    failed = _row(patient, 1, Status.FAILED)
    sent = _row(patient, 2, Status.SENT)
    login(client, admin)
    response = client.post(
        reverse("admin:notifications_outbox_changelist"),
        {"action": "retry_failed", "_selected_action": [failed.pk, sent.pk]},
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert failed.status == Status.PENDING and failed.attempts == 0
    assert sent.status == Status.SENT


def test_patients_and_clinicians_cannot_open_the_admin(client, login, patient, clinician):
    for user in (patient, clinician):
        login(client, user)
        response = client.get(reverse("admin:notifications_outbox_changelist"))
        assert response.status_code in (302, 403)
