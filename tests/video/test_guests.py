"""A family member or interpreter joins a visit by a one-time link, with the patient's
agreement, through the clinician's waiting room; the link works in one browser only."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.logs import loggable_path
from apps.scheduling.models import Appointment
from apps.video.models import Seat, SeatStatus, VisitGuest
from tests.factories import clinician_in, patient_in
from tests.video.janusclient import join_as_publisher

pytestmark = pytest.mark.django_db(transaction=True)
INVITE = {"name": "Ana", "role": "interpreter", "patient_agreed": "on"}


@pytest.fixture
def visit(program, clinician, patient):
    now = timezone.now()
    return Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="family",
        starts_at=now - dt.timedelta(minutes=2),
        ends_at=now + dt.timedelta(minutes=50),
    )


def invite(login, clinician, visit, data=INVITE) -> tuple[Client, str | None]:
    doc = login(Client(), clinician)
    doc.post(f"/video/visit/{visit.pk}/invite/", data)
    page = doc.get(f"/video/visit/{visit.pk}/").content.decode()
    found = re.search(r'id="guest-link" value="([^"]+)"', page)
    return doc, found.group(1) if found else None


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_an_invited_interpreter_waits_then_joins_with_credentials_janus_accepts(
    video_on, login, visit, clinician
):
    doc, link = invite(login, clinician, visit)
    assert link and "/video/guest/" in link
    assert VisitGuest.objects.get().token_hash not in link  # only the hash is stored
    guest = Client()
    assert guest.get(path_of(link)).status_code == 302
    page = guest.get("/video/guest/")
    assert page.status_code == 200 and b"Welcome, Ana" in page.content
    assert "camera=(self)" in page["Permissions-Policy"]
    assert guest.post("/video/guest/join/").json()["status"] == "waiting"
    waiting = doc.post(f"/video/visit/{visit.pk}/state/").json()["waiting"]
    assert [w["name"] for w in waiting] == ["Ana (Interpreter)"]
    doc.post(
        f"/video/visit/{visit.pk}/moderate/", {"action": "admit", "seat_id": waiting[0]["seat_id"]}
    )
    creds = guest.post("/video/guest/join/").json()
    assert creds["status"] == "admitted"
    assert join_as_publisher(video_on.http_url, creds)["videoroom"] == "joined"
    assert AuditEvent.objects.filter(detail="video guest invited (interpreter)").exists()
    assert loggable_path(path_of(link)) == "/video/guest/***/"


def test_the_link_works_in_one_browser_only(video_on, login, visit, clinician):
    _doc, link = invite(login, clinician, visit)
    first, second = Client(), Client()
    assert first.get(path_of(link)).status_code == 302
    assert second.get(path_of(link)).status_code == 404
    assert second.get("/video/guest/").status_code == 404
    assert second.post("/video/guest/join/").status_code == 404
    assert first.get(path_of(link)).status_code == 302  # the same browser may open it again


def test_no_invitation_without_the_patients_agreement_or_by_others(
    video_on, login, visit, clinician, patient, program
):
    _doc, link = invite(login, clinician, visit, {"name": "Ana", "role": "family"})
    assert link is None and not VisitGuest.objects.exists()
    for user in (patient, clinician_in(program), patient_in(program)):
        response = login(Client(), user).post(f"/video/visit/{visit.pk}/invite/", INVITE)
        assert response.status_code in (302, 404)
    assert not VisitGuest.objects.exists()
    assert Client().post(f"/video/visit/{visit.pk}/invite/", INVITE).status_code == 302


def test_a_removed_guest_is_out_for_good_and_an_expired_link_opens_nothing(
    video_on, login, visit, clinician
):
    doc, link = invite(login, clinician, visit)
    guest = Client()
    guest.get(path_of(link))
    guest.post("/video/guest/join/")
    seat = Seat.objects.get(guest__isnull=False)
    doc.post(f"/video/visit/{visit.pk}/moderate/", {"action": "admit", "seat_id": seat.pk})
    doc.post(f"/video/visit/{visit.pk}/moderate/", {"action": "remove", "seat_id": seat.pk})
    assert Seat.objects.get(pk=seat.pk).status == SeatStatus.REMOVED
    assert guest.post("/video/guest/join/").json()["code"] == "removed"
    _doc, later = invite(login, clinician, visit, {**INVITE, "name": "Bo"})
    VisitGuest.objects.filter(name="Bo").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert Client().get(path_of(later)).status_code == 404


def test_bad_guest_tokens_are_a_plain_404(visit):
    client = Client()
    for token in ("x" * 200, "nope", "a" * 32):
        assert client.get(f"/video/guest/{token}/").status_code == 404
