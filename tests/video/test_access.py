"""Who gets a media token: the chat room's rules for a group session, the appointment's for
a visit. Each rule tried by someone it must refuse; Janus checked to agree."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.rooms import services as room_services
from apps.scheduling.models import Appointment, Attendance
from apps.video import janus
from apps.video.models import Seat, SeatStatus, VideoRoom
from tests.factories import clinician_in, patient_in
from tests.rooms.factories import make_session
from tests.video.janusclient import join_as_publisher

pytestmark = pytest.mark.django_db(transaction=True)
HOME = {"location": "home"}


def url(kind: str, pk: int, what: str) -> str:
    return f"/video/{kind}/{pk}/{what}/"


def chat_in(user, session) -> None:
    """Open the chat socket's side of the room (the page does it before the video)."""
    room_services.room_connect(user=user, session_id=session.pk, channel_name=f"t!{user.pk}")


@pytest.fixture
def group(program, clinician, patient, member2):
    session = make_session(program, [clinician], [patient, member2])
    chat_in(clinician, session)
    return session


def client_for(login, user) -> Client:
    return login(Client(), user)


def test_an_admitted_member_gets_credentials_janus_accepts(video_on, login, group, patient):
    chat_in(patient, group)
    response = client_for(login, patient).post(url("session", group.pk, "join"), HOME)
    assert response.status_code == 200
    creds = response.json()
    assert creds["status"] == "admitted"
    assert creds["display"].startswith("p") and patient.first_name_display not in str(creds)
    assert creds["ice_servers"][0]["username"].endswith(":" + creds["display"])
    assert join_as_publisher(video_on.http_url, creds)["videoroom"] == "joined"
    assert AuditEvent.objects.filter(actor=patient, detail="video token session").exists()


def test_the_facilitator_gets_credentials_without_the_lobby(video_on, login, group, clinician):
    response = client_for(login, clinician).post(url("session", group.pk, "join"))
    assert response.json()["status"] == "admitted"


def test_a_patient_waiting_in_the_lobby_gets_no_token(video_on, login, program, clinician, patient):
    session = make_session(program, [clinician], [patient], auto_admit=False)
    chat_in(clinician, session)
    chat_in(patient, session)
    answer = client_for(login, patient).post(url("session", session.pk, "join"), HOME).json()
    assert answer == {"status": "waiting", "locked": False}
    # Admitted in the chat lobby: the next ask gets a token.
    room_services.room_admit(by=clinician, session_id=session.pk, user_id=patient.pk)
    answer = client_for(login, patient).post(url("session", session.pk, "join"), HOME).json()
    assert answer["status"] == "admitted" and answer["token"]


def test_an_outsider_patient_and_another_programs_clinician_get_404(
    video_on, login, group, other_program
):
    for user in (patient_in(other_program), clinician_in(other_program)):
        response = client_for(login, user).post(url("session", group.pk, "join"), HOME)
        assert response.status_code == 404
        assert "token" not in response.json()
    assert not Seat.objects.exists()


def test_a_logged_out_visitor_is_sent_to_sign_in(video_on, group):
    response = Client().post(url("session", group.pk, "join"), HOME)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_removed_member_is_refused_and_janus_refuses_their_old_credentials(
    video_on, login, group, patient, clinician
):
    chat_in(patient, group)
    creds = client_for(login, patient).post(url("session", group.pk, "join"), HOME).json()
    response = client_for(login, clinician).post(
        url("session", group.pk, "moderate"), {"action": "remove", "user_id": patient.pk}
    )
    assert response.status_code == 200
    refused = client_for(login, patient).post(url("session", group.pk, "join"), HOME)
    assert refused.status_code == 403 and refused.json()["code"] == "removed"
    assert Seat.objects.get(user=patient).status == SeatStatus.REMOVED
    # The old token still opens a Janus session, but the room's ACL no longer lists them.
    answer = join_as_publisher(video_on.http_url, creds)
    assert answer.get("error_code") == 433, answer


def test_a_patient_cannot_moderate(video_on, login, group, patient, member2):
    chat_in(patient, group)
    chat_in(member2, group)
    client_for(login, member2).post(url("session", group.pk, "join"), HOME)
    for action in ("mute", "remove", "end", "lock"):
        response = client_for(login, patient).post(
            url("session", group.pk, "moderate"), {"action": action, "user_id": member2.pk}
        )
        assert response.status_code == 403, action
    seat = Seat.objects.get(user=member2)
    assert seat.status == SeatStatus.ADMITTED and not seat.audio_locked


def test_bad_input_is_a_clear_error_never_a_500(video_on, login, group, clinician, patient):
    client = client_for(login, clinician)
    chat_in(patient, group)
    client_for(login, patient).post(url("session", group.pk, "join"), HOME)
    cases = [
        (url("session", group.pk, "moderate"), {"action": "explode", "user_id": patient.pk}, 400),
        (url("session", group.pk, "moderate"), {"action": "mute", "user_id": "abc"}, 404),
        (url("session", group.pk, "moderate"), {"action": "mute", "user_id": "9" * 30}, 404),
        (url("nonsense", group.pk, "join"), {}, 404),
        (url("session", 10**18, "join"), {}, 404),
    ]
    for path, data, status in cases:
        response = client.post(path, data)
        assert response.status_code == status, (path, data, response.content)
        assert "error" in response.json()
    assert client.get(url("session", group.pk, "join")).status_code == 405


def test_the_patients_location_is_required_and_recorded(video_on, login, group, patient):
    chat_in(patient, group)
    client = client_for(login, patient)
    missing = client.post(url("session", group.pk, "join"))
    assert missing.status_code == 400 and missing.json()["code"] == "location"
    no_place = client.post(url("session", group.pk, "join"), {"location": "elsewhere"})
    assert no_place.status_code == 400
    ok = client.post(
        url("session", group.pk, "join"), {"location": "elsewhere", "place": " Reno,  NV "}
    )
    assert ok.json()["status"] == "admitted"
    attendance = Attendance.objects.get(session=group, patient=patient)
    assert (attendance.location, attendance.location_place) == ("elsewhere", "Reno, NV")
    assert attendance.place_of_service == "02"
    # The facilitator sees it; the other members do not.
    facilitator_view = client_for_host_state(login, group)
    entry = next(e for e in facilitator_view["roster"].values() if e["user_id"] == patient.pk)
    assert entry["place"] == "Reno, NV" and entry["pos"] == "02"


def client_for_host_state(login, session):
    host = session.group.facilitators.first()
    client = client_for(login, host)
    client.post(url("session", session.pk, "join"))
    return client.post(url("session", session.pk, "state")).json()


def test_members_see_first_names_but_no_locations(video_on, login, group, patient, member2):
    for user in (patient, member2):
        chat_in(user, group)
        client_for(login, user).post(url("session", group.pk, "join"), HOME)
    state = client_for(login, member2).post(url("session", group.pk, "state")).json()
    names = {e["name"] for e in state["roster"].values()}
    assert patient.first_name_display in names
    assert all("place" not in e and "location" not in e for e in state["roster"].values())
    assert "waiting" not in state


def test_ending_the_session_destroys_the_media_room(video_on, login, group, clinician, patient):
    chat_in(patient, group)
    client_for(login, patient).post(url("session", group.pk, "join"), HOME)
    room = VideoRoom.objects.get(session=group)
    assert janus.room_exists(room=room.janus_room)
    client_for(login, clinician).post(url("session", group.pk, "moderate"), {"action": "end"})
    assert not janus.room_exists(room=room.janus_room)
    room.refresh_from_db()
    assert room.ended_at is not None
    again = client_for(login, patient).post(url("session", group.pk, "join"), HOME)
    assert again.status_code == 400 and again.json()["code"] == "closed"


def test_removal_from_the_chat_takes_them_out_of_the_video_too(
    video_on, login, group, clinician, patient
):
    chat_in(patient, group)
    creds = client_for(login, patient).post(url("session", group.pk, "join"), HOME).json()
    room_services.room_member_remove(by=clinician, session_id=group.pk, user_id=patient.pk)
    assert Seat.objects.get(user=patient).status == SeatStatus.REMOVED
    assert join_as_publisher(video_on.http_url, creds).get("error_code") == 433


def test_video_off_says_so_plainly(login, group, patient, settings):
    settings.VIDEO_ENABLED = False
    chat_in(patient, group)
    response = client_for(login, patient).post(url("session", group.pk, "join"), HOME)
    assert response.status_code == 503 and response.json()["code"] == "disabled"


# --- Visits -----------------------------------------------------------------------------


@pytest.fixture
def visit(program, clinician, patient):
    now = timezone.now()
    return Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=now - dt.timedelta(minutes=2),
        ends_at=now + dt.timedelta(minutes=50),
    )


def test_a_visit_patient_waits_until_the_clinician_lets_them_in(
    video_on, login, visit, clinician, patient
):
    pat, doc = client_for(login, patient), client_for(login, clinician)
    assert pat.post(url("visit", visit.pk, "join"), HOME).json()["status"] == "waiting"
    assert doc.post(url("visit", visit.pk, "join")).json()["status"] == "admitted"
    waiting = doc.post(url("visit", visit.pk, "state")).json()["waiting"]
    assert [w["user_id"] for w in waiting] == [patient.pk]
    assert waiting[0]["pos"] == "10"
    doc.post(url("visit", visit.pk, "moderate"), {"action": "admit", "user_id": patient.pk})
    creds = pat.post(url("visit", visit.pk, "join"), HOME).json()
    assert creds["status"] == "admitted"
    assert join_as_publisher(video_on.http_url, creds)["videoroom"] == "joined"


def test_only_the_visits_patient_and_clinician_may_enter(
    video_on, login, visit, program, other_program
):
    for user in (patient_in(program), clinician_in(program), clinician_in(other_program)):
        assert client_for(login, user).post(url("visit", visit.pk, "join"), HOME).status_code == 404
        assert client_for(login, user).get(f"/video/visit/{visit.pk}/").status_code == 404


def test_a_visit_is_not_open_long_before_it_starts_nor_when_cancelled(
    video_on, login, visit, patient
):
    visit.starts_at = timezone.now() + dt.timedelta(hours=3)
    visit.ends_at = visit.starts_at + dt.timedelta(hours=1)
    visit.save()
    client = client_for(login, patient)
    assert client.post(url("visit", visit.pk, "join"), HOME).json()["code"] == "closed"
    page = client.get(f"/video/visit/{visit.pk}/")
    assert page.status_code == 200 and b"The visit opens at" in page.content
    visit.starts_at = timezone.now()
    visit.ends_at = visit.starts_at + dt.timedelta(hours=1)
    visit.status = "cancelled"
    visit.save()
    assert client.post(url("visit", visit.pk, "join"), HOME).json()["code"] == "closed"


def test_the_visit_page_allows_the_camera_and_nothing_else_does(login, visit, patient):
    client = client_for(login, patient)
    policy = client.get(f"/video/visit/{visit.pk}/")["Permissions-Policy"]
    assert "camera=(self)" in policy and "microphone=(self)" in policy
    assert "camera=()" in client.get("/")["Permissions-Policy"]


def test_someone_not_in_the_live_room_learns_nothing_of_who_is(
    video_on, login, group, patient, program
):
    chat_in(patient, group)
    client_for(login, patient).post(url("session", group.pk, "join"), HOME)
    staff = clinician_in(program)  # reads the group's history, does not facilitate
    state = client_for(login, staff).post(url("session", group.pk, "state")).json()
    assert state["roster"] == {} and state["ended"] is True
    refused = client_for(login, staff).post(url("session", group.pk, "join"))
    assert refused.status_code == 400 and "token" not in refused.json()


def test_a_visit_room_closes_in_janus_once_its_time_is_over(video_on, login, visit, clinician):
    from apps.video.services import video_rooms_tidy

    client_for(login, clinician).post(url("visit", visit.pk, "join"))
    room = VideoRoom.objects.get(appointment=visit)
    assert janus.room_exists(room=room.janus_room)
    assert video_rooms_tidy() == 0  # still on
    later = visit.join_closes_at + dt.timedelta(seconds=1)
    assert video_rooms_tidy(now=later) == 1
    assert not janus.room_exists(room=room.janus_room)
    assert video_rooms_tidy(now=later) == 0


def test_media_time_counts_toward_attendance_and_ends_when_the_browser_goes_quiet(
    video_on, login, group, patient
):
    from apps.video.services import MEDIA_STALE_AFTER, video_rooms_tidy

    chat_in(patient, group)
    client = client_for(login, patient)
    client.post(url("session", group.pk, "join"), HOME)
    client.post(url("session", group.pk, "state"), {"media": "1"})
    seat = Seat.objects.get(user=patient)
    assert seat.media_joined_at is not None
    media_start = seat.media_joined_at.astimezone(dt.UTC).isoformat()
    presence = Attendance.objects.get(session=group, patient=patient).presence
    assert [media_start, None] in presence
    video_rooms_tidy(now=timezone.now() + MEDIA_STALE_AFTER + dt.timedelta(seconds=5))
    seat.refresh_from_db()
    assert seat.media_joined_at is None
    presence = Attendance.objects.get(session=group, patient=patient).presence
    media = next(iv for iv in presence if iv[0] == media_start)
    assert media[1] is not None  # ended at the last report, not left open


def test_joins_are_rate_limited_per_person(login, group, patient, settings):
    from apps.video.services import JOINS_PER_MINUTE

    settings.VIDEO_ENABLED = False  # the limit answers before Janus is asked
    client = client_for(login, patient)
    codes = [
        client.post(url("session", group.pk, "join"), HOME).status_code
        for _ in range(JOINS_PER_MINUTE + 1)
    ]
    assert codes[:JOINS_PER_MINUTE] == [503] * JOINS_PER_MINUTE
    assert codes[-1] == 429


def test_a_locked_visit_lets_nobody_new_in(video_on, login, visit, clinician, patient):
    doc = client_for(login, clinician)
    doc.post(url("visit", visit.pk, "join"))
    doc.post(url("visit", visit.pk, "moderate"), {"action": "lock"})
    refused = client_for(login, patient).post(url("visit", visit.pk, "join"), HOME)
    assert refused.status_code == 403 and refused.json()["code"] == "locked"
    doc.post(url("visit", visit.pk, "moderate"), {"action": "unlock"})
    assert client_for(login, patient).post(url("visit", visit.pk, "join"), HOME).json() == {
        "status": "waiting",
        "locked": False,
    }
