"""A release that ends on an event (not a date): the patient's clinicians confirm the event
happened, with its day, from the chart; from then on the release is expired, disclosures
and family links under it stop, and the confirmation is audited. Strangers and bad dates
are refused and change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from apps.audit.models import AuditEvent
from apps.disclosures.models import Disclosure
from apps.disclosures.services import disclosure_record
from apps.enrollment import selectors, services
from apps.enrollment.models import ReleaseOfInformation
from apps.video.models import VisitGuest
from tests.disclosures.test_roi import invite, signed_release, today, visit  # noqa: F401

pytestmark = pytest.mark.django_db


def _confirm(client, release, day, next_url=""):
    return client.post(
        f"/enrollment/releases/{release.pk}/confirm-event/",
        {"happened_on": day.isoformat() if day else "", "next": next_url},
    )


def test_staff_see_the_release_awaiting_its_event_and_confirm_it_from_the_chart(
    login, clinician, patient
):
    release = signed_release(patient)  # ends "when I complete the program"
    staff = login(Client(), clinician)
    chart_url = f"/progress/patients/{patient.pk}/"
    chart = staff.get(chart_url).content.decode()
    assert "1 release ends on an event" in chart
    assert "Confirm the event has happened" in chart and "when I complete the program" in chart
    consents = staff.get(f"/enrollment/patients/{patient.pk}/consents/").content.decode()
    assert "Confirm the event has happened" in consents

    response = _confirm(staff, release, today(patient), chart_url)
    assert response.status_code == 302 and response.url == chart_url
    release.refresh_from_db()
    assert release.event_happened_on == today(patient)
    assert release.event_confirmed_by == clinician
    assert selectors.release_state(release) == "expired"
    assert not selectors.release_is_active_now(release_id=release.pk)
    event = AuditEvent.objects.get(
        actor=clinician, detail__startswith="release expiry event confirmed"
    )
    assert event.patient == patient and event.action == "update"
    chart = staff.get(chart_url).content.decode()
    assert "ends on an event" not in chart and "Expired" in chart
    # Nothing more is disclosed under it.
    with pytest.raises(ValidationError):
        disclosure_record(by=clinician, release=release, kind="records", description="x")
    assert not Disclosure.objects.exists()


def test_confirming_the_event_stops_a_family_link(login, clinician, patient, visit):  # noqa: F811
    release = signed_release(patient)
    staff = login(Client(), clinician)
    link = invite(staff, visit, {"role": "family", "release": release.pk, "patient_agreed": "on"})
    assert link and VisitGuest.objects.count() == 1
    _confirm(staff, release, today(patient))
    assert Client().get(link).status_code == 404
    assert (
        invite(staff, visit, {"role": "family", "release": release.pk, "patient_agreed": "on"})
        is None
    )


@pytest.mark.parametrize("days", [1, None])
def test_a_future_or_missing_day_is_refused_and_changes_nothing(login, clinician, patient, days):
    release = signed_release(patient)
    day = today(patient) + dt.timedelta(days=days) if days else None
    response = _confirm(login(Client(), clinician), release, day)
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.event_happened_on is None and selectors.release_is_active_now(
        release_id=release.pk
    )
    assert not AuditEvent.objects.filter(detail__startswith="release expiry event").exists()


def test_a_day_before_signing_a_second_confirmation_and_a_dated_release_are_refused(
    clinician, patient
):
    release = signed_release(patient)
    with pytest.raises(ValidationError):
        services.release_event_confirm(
            by=clinician, release=release, happened_on=today(patient) - dt.timedelta(days=3)
        )
    services.release_event_confirm(by=clinician, release=release, happened_on=today(patient))
    with pytest.raises(ValidationError):
        services.release_event_confirm(by=clinician, release=release, happened_on=today(patient))
    dated = signed_release(
        patient, expiry_event="", expires_on=today(patient) + dt.timedelta(days=30)
    )
    with pytest.raises(ValidationError):
        services.release_event_confirm(by=clinician, release=dated, happened_on=today(patient))
    assert ReleaseOfInformation.objects.filter(event_happened_on__isnull=False).count() == 1


def test_only_the_patients_care_team_may_confirm(login, patient, outsider, other_clinician):
    release = signed_release(patient)
    for user in (patient, outsider, other_clinician):
        assert _confirm(login(Client(), user), release, today(patient)).status_code == 404
        if user.role != "patient":
            with pytest.raises(ValidationError):
                services.release_event_confirm(by=user, release=release, happened_on=today(patient))
    with pytest.raises(ValidationError):
        services.release_event_confirm(by=patient, release=release, happened_on=today(patient))
    response = _confirm(Client(), release, today(patient))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert _confirm(login(Client(), other_clinician), release, today(patient)).status_code == 404
    release.refresh_from_db()
    assert release.event_happened_on is None


def test_an_outside_next_url_is_not_followed(login, clinician, patient):
    release = signed_release(patient)
    response = _confirm(login(Client(), clinician), release, today(patient), "https://evil.test/")
    assert response.url == f"/enrollment/patients/{patient.pk}/consents/"
