"""The crisis plan a patient can keep on their device (issue 29, item 21): a self-contained
printable page, and the service worker that keeps only that page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.enrollment import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(patient, clinician):
    return services.safety_plan_save(
        patient=patient,
        by=clinician,
        data={"warning_signs": "Not sleeping", "reason_for_living": "My daughter"},
    )


def test_saved_page_is_self_contained_and_audited(client, login, patient, plan):
    login(client, patient)
    response = client.get(reverse("crisis_saved"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "Not sleeping" in body and "My daughter" in body
    assert 'href="tel:988"' in body
    # No stylesheet to fetch, so the stored copy looks the same offline (only the optional
    # Print button's script is a file).
    assert '<link rel="stylesheet"' not in body
    assert AuditEvent.objects.filter(
        actor=patient, object_type="enrollment.safetyplan", detail="crisis plan, saved copy"
    ).exists()


def test_saved_page_needs_the_patient_signed_in(client, login, clinician, outsider, plan):
    response = client.get(reverse("crisis_saved"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]
    login(client, clinician)
    assert client.get(reverse("crisis_saved")).status_code == 302
    login(client, outsider)  # their own (empty) plan, never another patient's
    body = client.get(reverse("crisis_saved")).content.decode()
    assert "Not sleeping" not in body


def test_service_worker_is_same_origin_under_crisis_and_caches_only_that_page(client):
    response = client.get(reverse("crisis_sw"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert reverse("crisis_sw").startswith(reverse("crisis"))  # its scope covers the pages
    script = response.content.decode()
    assert 'SCOPE + "saved/"' in script and "cache.put(PAGE" in script


def test_crisis_page_offers_to_save_the_plan(client, login, patient, plan):
    login(client, patient)
    body = client.get(reverse("crisis")).content.decode()
    assert "Save my crisis plan to this device" in body
    assert f'data-worker="{reverse("crisis_sw")}"' in body
    assert f'href="{reverse("crisis_saved")}"' in body  # the printable page
