"""The room page: who may open it, in which phase, and the history view."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.rooms.models import Participant, Room
from tests.factories import clinician_in
from tests.rooms.factories import add_message, make_session

pytestmark = pytest.mark.django_db


def url(session) -> str:
    return f"/rooms/{session.pk}/"


def test_anonymous_user_is_sent_to_login(client, live_session):
    response = client.get(url(live_session))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_outsider_gets_404(client, login, live_session, outsider):
    assert login(client, outsider).get(url(live_session)).status_code == 404


def test_other_programs_clinician_gets_404(client, login, live_session, other_clinician):
    assert login(client, other_clinician).get(url(live_session)).status_code == 404


def test_unknown_session_gets_404(client, login, patient):
    assert login(client, patient).get("/rooms/987654/").status_code == 404


def test_member_sees_the_live_room_without_facilitator_controls(
    client, login, live_session, patient
):
    response = login(client, patient).get(url(live_session))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="room-config"' in body
    assert f'"ws_path": "/ws/rooms/{live_session.pk}/"' in body
    assert "Facilitator controls" not in body
    assert 'aria-live="polite"' in body
    assert "Raise hand" in body


def test_facilitator_sees_the_controls(client, login, live_session, clinician):
    body = login(client, clinician).get(url(live_session)).content.decode()
    assert "Facilitator controls" in body
    assert "Waiting room" in body
    assert "End the session for everyone" in body


def test_non_facilitating_clinician_reads_history_only_and_is_audited(
    client, login, live_session, program, patient
):
    colleague = clinician_in(program, email="colleague@example.test")
    room = Room.objects.create(session=live_session)
    add_message(room, author=patient, body="hello", created_at=timezone.now())
    response = login(client, colleague).get(url(live_session))
    assert response.status_code == 200
    assert 'id="room-config"' not in response.content.decode()
    assert "hello" in response.content.decode()
    assert AuditEvent.objects.filter(
        actor=colleague, action="view", detail="room transcript"
    ).exists()


def test_room_not_open_yet_says_when_it_opens(client, login, program, clinician, patient):
    session = make_session(program, [clinician], [patient], starts_in=dt.timedelta(hours=3))
    response = login(client, patient).get(url(session))
    assert response.status_code == 200
    assert "The room opens at" in response.content.decode()


def test_cancelled_session_says_so(client, login, program, clinician, patient):
    session = make_session(program, [clinician], [patient], status="cancelled")
    assert "was cancelled" in login(client, patient).get(url(session)).content.decode()


def test_ended_room_is_read_only_history_with_tombstones(client, login, live_session, patient):
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    now = timezone.now()
    add_message(room, author=patient, body="kept", created_at=now)
    add_message(room, author=patient, body="secret", created_at=now, deleted_at=now)
    body = login(client, patient).get(url(live_session)).content.decode()
    assert "kept" in body
    assert "secret" not in body
    assert "Message removed by a facilitator" in body
    assert 'id="room-config"' not in body


def test_history_pages_back_and_pins_query_count(
    client, login, live_session, patient, member2, django_assert_max_num_queries
):
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    now = timezone.now()
    for i in range(130):
        add_message(room, author=patient if i % 2 else member2, body=f"line {i}", created_at=now)
    login(client, patient)
    response = client.get(url(live_session))
    body = response.content.decode()
    assert "line 129" in body and "line 29" not in body.replace("line 129", "")
    earliest = response.context["earliest"]
    older = client.get(url(live_session), {"before": earliest}).content.decode()
    assert "line 0" in older and "line 29" in older
    # The same number of queries for a page of 100 as for a page of 30.
    with django_assert_max_num_queries(30) as ctx:
        client.get(url(live_session))
    big = len(ctx.captured_queries)
    with django_assert_max_num_queries(big) as ctx_small:
        client.get(url(live_session), {"before": earliest})
    assert len(ctx_small.captured_queries) == big


def test_removed_member_gets_403_page(client, login, live_session, patient):
    room = Room.objects.create(session=live_session)
    Participant.objects.create(room=room, user=patient, status="removed", removed_at=timezone.now())
    response = login(client, patient).get(url(live_session))
    assert response.status_code == 403
    assert "removed you" in response.content.decode()


@pytest.mark.parametrize("before", ["x'", "9" * 25, "-5", "0"])
def test_bad_before_parameter_is_ignored(client, login, live_session, patient, before):
    Room.objects.create(session=live_session, ended_at=timezone.now())
    assert login(client, patient).get(url(live_session), {"before": before}).status_code == 200


def test_dashboard_panel_lists_open_rooms(client, login, live_session, patient, program, clinician):
    make_session(program, [clinician], [patient], starts_in=dt.timedelta(hours=5))
    body = login(client, patient).get("/").content.decode()
    assert "Group rooms open now" in body
    assert url(live_session) in body
    assert body.count("Join Process Group") == 1


def test_dashboard_panel_hidden_when_nothing_is_open(client, login, program, clinician, patient):
    make_session(program, [clinician], [patient], starts_in=dt.timedelta(hours=5))
    assert "Group rooms open now" not in login(client, patient).get("/").content.decode()


def test_dashboard_panel_query_count_does_not_grow(
    rf, program, clinician, patient, django_assert_num_queries
):
    from django.template.loader import render_to_string

    from apps.rooms.panels import live_rooms

    def render() -> str:
        request = rf.get("/")
        request.user = clinician
        template, context = live_rooms(request)
        return render_to_string(template, {"panel": context})

    make_session(program, [clinician], [patient])
    with django_assert_num_queries(1):
        assert render().count("Join ") == 1
    for _ in range(3):
        make_session(program, [clinician], [patient])
    with django_assert_num_queries(1):
        assert render().count("Join ") == 4


def test_history_times_are_shown_in_the_viewers_zone(client, login, live_session, patient):
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    at = dt.datetime(2026, 1, 15, 20, 5, tzinfo=dt.UTC)  # 12:05 in Los Angeles
    add_message(room, author=patient, body="timed", created_at=at)
    body = login(client, patient).get(url(live_session)).content.decode()
    assert ">12:05</time>" in body


def test_history_is_not_repeated_as_status_notices(client, login, live_session, patient):
    """The transcript once, in the list: the context key "messages" used to be read by
    base.html as django.contrib.messages and printed every payload as a notice."""
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    add_message(room, author=patient, body="only once", created_at=timezone.now())
    body = login(client, patient).get(url(live_session)).content.decode()
    assert body.count("only once") == 1
    assert "message-info" not in body
    assert '<li class="chat-msg mine" id="m-' in body


def test_history_system_lines_and_facilitator_badge(
    client, login, live_session, patient, clinician
):
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    now = timezone.now()
    add_message(room, kind="system", system_event="joined", subject=patient, created_at=now)
    add_message(room, author=clinician, body="<b>welcome</b>", created_at=now)
    body = login(client, patient).get(url(live_session)).content.decode()
    assert f"{patient.first_name_display} joined</li>" in body
    assert '<span class="badge">Facilitator</span>' in body
    assert "&lt;b&gt;welcome&lt;/b&gt;" in body and "<b>welcome" not in body


def test_cached_history_is_still_audited_for_staff_and_shows_moderation_at_once(
    client, login, live_session, program, patient, settings, django_capture_on_commit_callbacks
):
    settings.FRAGMENT_CACHE = True
    colleague = clinician_in(program, email="colleague-cache@example.test")
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    message = add_message(room, author=patient, body="first words", created_at=timezone.now())
    login(client, colleague)
    for _ in range(3):
        assert "first words" in client.get(url(live_session)).content.decode()
    assert (
        AuditEvent.objects.filter(
            actor=colleague, detail="room transcript", object_id=room.pk
        ).count()
        == 3
    )
    with django_capture_on_commit_callbacks(execute=True):
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
    body = client.get(url(live_session)).content.decode()
    assert "first words" not in body
    assert "Message removed by a facilitator" in body


def test_cached_history_is_per_viewer(client, login, live_session, patient, member2, settings):
    """ "mine" marks the viewer's own messages: one member's cached page is not another's."""
    settings.FRAGMENT_CACHE = True
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    add_message(room, author=patient, body="from pat", created_at=timezone.now())
    login(client, patient)
    assert 'class="chat-msg mine"' in client.get(url(live_session)).content.decode()
    client.logout()
    login(client, member2)
    body = client.get(url(live_session)).content.decode()
    assert "from pat" in body
    assert 'class="chat-msg mine"' not in body


def test_a_participant_whose_seat_was_deleted_cannot_read_the_history(
    client, login, live_session, patient
):
    """The quick access path for people who were in the room (their participant row) keeps
    the rule: the history needs a membership covering the session's date."""
    from apps.scheduling.models import GroupMembership

    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    Participant.objects.create(room=room, user=patient, status="admitted")
    login(client, patient)
    assert client.get(url(live_session)).status_code == 200
    GroupMembership.objects.filter(patient=patient).delete()
    assert client.get(url(live_session)).status_code == 404


def test_a_former_member_still_reads_the_history_of_a_session_they_had_a_seat_in(
    client, login, live_session, patient
):
    from apps.scheduling.models import GroupMembership

    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    add_message(room, author=patient, body="from then", created_at=timezone.now())
    Participant.objects.create(room=room, user=patient, status="admitted")
    GroupMembership.objects.filter(patient=patient).update(
        status="ended", to_date=live_session.occurrence_date
    )
    body = login(client, patient).get(url(live_session)).content.decode()
    assert "from then" in body


def test_chat_times_use_the_viewers_profile_zone(client, login, live_session, patient):
    patient.time_zone = "America/Denver"
    patient.save(update_fields=["time_zone"])
    body = login(client, patient).get(url(live_session)).content.decode()
    assert '"tz": "America/Denver"' in body
