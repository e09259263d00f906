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


def test_admin_retry_action_requeues_failed_and_unknown_rows_only(client, login, admin, patient):
    failed = _row(patient, 1, Status.FAILED)
    sent = _row(patient, 2, Status.SENT)
    unknown = _row(patient, 3, Status.UNKNOWN)
    in_hand = _row(patient, 4, Status.HANDOVER)  # a live worker is handing it over
    login(client, admin)
    response = client.post(
        reverse("admin:notifications_outbox_changelist"),
        {
            "action": "retry_failed",
            "_selected_action": [failed.pk, sent.pk, unknown.pk, in_hand.pk],
        },
    )
    assert response.status_code == 302
    for row in (failed, sent, unknown, in_hand):
        row.refresh_from_db()
    assert failed.status == Status.PENDING and failed.attempts == 0
    assert unknown.status == Status.PENDING and unknown.attempts == 0
    assert sent.status == Status.SENT
    assert in_hand.status == Status.HANDOVER


def test_admin_filters_the_rows_whose_outcome_is_unknown(client, login, admin, patient):
    _row(patient, 1, Status.UNKNOWN)
    _row(patient, 2, Status.FAILED)
    login(client, admin)
    page = client.get(
        reverse("admin:notifications_outbox_changelist"), {"status__exact": "unknown"}
    )
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert "Outcome unknown (not sent again)" in page.content.decode()


def test_patients_and_clinicians_cannot_open_the_admin(client, login, patient, clinician):
    for user in (patient, clinician):
        login(client, user)
        response = client.get(reverse("admin:notifications_outbox_changelist"))
        assert response.status_code in (302, 403)


def test_admin_pages_keep_the_site_header_and_declare_an_icon(client, login, admin):
    login(client, admin)
    body = client.get(reverse("admin:notifications_outbox_changelist")).content.decode()
    assert '<link rel="icon" href="data:,">' in body  # no /favicon.ico 404 on every page
    assert "Virtual IOP administration" in body
    assert 'id="site-name"' in body  # Django's own branding block is still there
