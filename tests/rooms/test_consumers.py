"""The room socket: every message type, every refusal and every bad input."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from apps.accounts.services import user_sockets_close
from apps.audit.models import AuditEvent
from apps.rooms.models import Message, Participant, RiskAlert, RiskPhrase, Room
from apps.scheduling.models import Attendance, GroupMembership
from tests.factories import patient_in
from tests.rooms.conftest import communicator_for, connect, refused, session_for
from tests.rooms.factories import make_session

pytestmark = pytest.mark.django_db(transaction=True)

db = sync_to_async


# --- Refusals ---------------------------------------------------------------------------------


async def test_anonymous_user_cannot_join_room(live_session):
    assert await refused(live_session.pk) == 4403


async def test_outsider_patient_cannot_join_room(live_session, outsider):
    assert await refused(live_session.pk, outsider) == 4403


async def test_other_programs_clinician_cannot_join_room(live_session, other_clinician):
    assert await refused(live_session.pk, other_clinician) == 4403


async def test_patient_of_same_program_but_not_member_cannot_join(live_session, program):
    stranger = await db(patient_in)(program, email="stranger@example.test")
    assert await refused(live_session.pk, stranger) == 4403


async def test_socket_from_a_foreign_origin_is_refused(live_session, patient):
    # refused() fails the test if the socket was accepted.
    await refused(live_session.pk, patient, origin=(b"origin", b"https://evil.example"))
    assert not await db(Participant.objects.exists)()  # the consumer never ran


async def test_unknown_session_is_refused(patient):
    assert await refused(999999, patient) == 4403


async def test_room_not_yet_open_is_refused(program, clinician, patient):
    session = await db(make_session)(
        program, [clinician], [patient], starts_in=dt.timedelta(minutes=30)
    )
    assert await refused(session.pk, patient) == 4410


async def test_room_opens_fifteen_minutes_before_start(program, clinician, patient):
    session = await db(make_session)(
        program, [clinician], [patient], starts_in=dt.timedelta(minutes=14)
    )
    client = await connect(session.pk, patient)
    assert client.first["type"] == "welcome"
    await client.close()


async def test_room_past_end_and_grace_is_refused(program, clinician, patient):
    session = await db(make_session)(
        program,
        [clinician],
        [patient],
        starts_in=dt.timedelta(hours=-2),
        length=dt.timedelta(minutes=60),
    )
    assert await refused(session.pk, patient) == 4410


async def test_cancelled_session_room_is_refused(program, clinician, patient):
    session = await db(make_session)(program, [clinician], [patient], status="cancelled")
    assert await refused(session.pk, patient) == 4410


async def test_ended_room_is_refused(live_session, patient):
    await db(Room.objects.create)(session=live_session, ended_at=timezone.now())
    assert await refused(live_session.pk, patient) == 4410


async def test_removed_member_cannot_rejoin(live_session, clinician, patient):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    await fac.send(type="remove", user_id=patient.pk)
    assert (await member.expect("removed"))["type"] == "removed"
    assert await member.expect_close() == 4403
    assert await refused(live_session.pk, patient) == 4403
    await fac.close()


async def test_waitlisted_patient_cannot_join(live_session, program):
    waiting = await db(patient_in)(program, email="waitlisted@example.test")
    await db(GroupMembership.objects.create)(
        group=live_session.group,
        patient=waiting,
        from_date=live_session.occurrence_date,
        status="waitlisted",
        waitlist_position=1,
    )
    assert await refused(live_session.pk, waiting) == 4403


# --- Joining, presence and the lobby -----------------------------------------------------


async def test_member_joins_and_sees_presence_and_system_message(
    live_session, clinician, patient, settings
):
    settings.ROOMS_LEFT_ANNOUNCE_SECONDS = 0
    fac = await connect(live_session.pk, clinician)
    assert fac.first["type"] == "welcome"
    assert fac.first["you"]["facilitator"] is True
    member = await connect(live_session.pk, patient)
    assert member.first["type"] == "welcome"
    assert "lobby" not in member.first  # facilitator-only information
    joined = await fac.expect_system("joined")
    while joined["subject"]["id"] != patient.pk:
        joined = await fac.expect_system("joined")
    assert joined["subject"] == {"id": patient.pk, "name": "Pat"}
    presence = await fac.expect("presence")
    while len(presence["people"]) < 2:
        presence = await fac.expect("presence")
    names = {p["name"] for p in presence["people"]}
    assert names == {"Carla", "Pat"}  # first names only
    await member.close()
    gone = await fac.expect("presence")
    assert [p["name"] for p in gone["people"]] == ["Carla"]
    await fac.send(type="ping")  # the periodic check announces who stayed away
    left = await fac.expect_system("left")
    assert left["subject"]["id"] == patient.pk
    await fac.close()


async def test_quick_reconnect_is_not_announced(live_session, clinician, patient):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    joined = await fac.expect_system("joined")
    while joined["subject"]["id"] != patient.pk:
        joined = await fac.expect_system("joined")
    await member.close()
    member = await connect(live_session.pk, patient)  # back within 30 seconds
    await fac.send(type="ping")
    await fac.expect("pong")
    assert await fac.nothing_of("message")
    events = await db(list)(
        Message.objects.filter(kind="system", subject=patient).values_list(
            "system_event", flat=True
        )
    )
    assert events == ["joined"]
    await member.close()
    await fac.close()


async def test_lobby_admit_one(program, clinician, patient, member2):
    session = await db(make_session)(program, [clinician], [patient, member2], auto_admit=False)
    fac = await connect(session.pk, clinician)
    member = await connect(session.pk, patient)
    assert member.first["type"] == "waiting"
    lobby = await fac.expect("lobby")
    assert lobby["people"] == [{"id": patient.pk, "name": "Pat"}]
    # A waiting member hears nothing of the room.
    await fac.send(type="send", client_id="c1", body="Welcome, everyone")
    await fac.expect("ack")
    assert await member.nothing_of("message")
    # A waiting member cannot act in the room either.
    await member.send(type="send", client_id="w1", body="let me in")
    assert (await member.expect("error"))["code"] == "not_admitted"
    await fac.send(type="admit", user_id=patient.pk)
    welcome = await member.expect("welcome")
    assert welcome["you"]["id"] == patient.pk
    admitted = await fac.expect_system("admitted")
    assert admitted["subject"]["id"] == patient.pk
    assert (await fac.expect("lobby"))["people"] == []
    assert await db(Participant.objects.filter(user=patient, status="admitted").exists)()
    assert await db(
        AuditEvent.objects.filter(actor=clinician, action="moderate", detail="room admit").exists
    )()
    await member.close()
    await fac.close()


async def test_lobby_admit_all(program, clinician, patient, member2):
    session = await db(make_session)(program, [clinician], [patient, member2], auto_admit=False)
    fac = await connect(session.pk, clinician)
    first = await connect(session.pk, patient)
    second = await connect(session.pk, member2)
    assert first.first["type"] == second.first["type"] == "waiting"
    await fac.send(type="admit_all")
    assert (await first.expect("welcome"))["type"] == "welcome"
    assert (await second.expect("welcome"))["type"] == "welcome"
    await first.close()
    await second.close()
    await fac.close()


async def test_locked_room_sends_newcomers_to_the_lobby(live_session, clinician, patient):
    fac = await connect(live_session.pk, clinician)
    await fac.send(type="lock", locked=True)
    assert (await fac.expect("locked"))["locked"] is True
    member = await connect(live_session.pk, patient)
    assert member.first["type"] == "waiting"
    room = await db(Room.objects.get)(session=live_session)
    assert room.locked
    await fac.send(type="lock", locked=False)
    assert (await fac.expect("locked"))["locked"] is False
    await member.close()
    await fac.close()


async def test_join_and_leave_feed_attendance(live_session, patient):
    member = await connect(live_session.pk, patient)
    attendance = await db(Attendance.objects.get)(session=live_session, patient=patient)
    assert len(attendance.presence) == 1
    assert attendance.presence[0][1] is None  # still here
    await member.close()
    await db(attendance.refresh_from_db)()
    assert attendance.presence[0][1] is not None
    # Left long before the end: pre-filled as "left early" for the facilitator to confirm.
    assert attendance.status == "left_early"


# --- Messages --------------------------------------------------------------------------


async def test_message_is_stored_before_it_is_broadcast(live_session, patient, member2):
    sender = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await sender.send(type="send", client_id="abc-1", body="  Hello group  ")
    ack = await sender.expect("ack", client_id="abc-1")
    assert ack["duplicate"] is False
    frame = await other.expect("message", timeout=3)
    while frame["message"]["kind"] != "chat":
        frame = await other.expect("message")
    assert frame["message"]["body"] == "Hello group"
    stored = await db(Message.objects.get)(pk=frame["message"]["id"])
    assert stored.body == "Hello group"
    assert frame["message"]["id"] == ack["id"]
    assert frame["message"]["author"] == {"id": patient.pk, "name": "Pat", "staff": False}
    await sender.close()
    await other.close()


async def test_a_broadcast_is_encoded_once_not_once_per_socket(
    live_session, clinician, patient, member2, monkeypatch
):
    """Every socket sends the frame the service encoded: the sockets' own JSON encoder runs
    for the sender's ack only, however many are in the room."""
    import json

    from apps.rooms.consumers import RoomConsumer

    clients = [await connect(live_session.pk, u) for u in (clinician, patient, member2)]
    encoded: list[object] = []
    real_encode = RoomConsumer.encode_json

    async def counting_encode(cls, content):
        encoded.append(content)
        return await real_encode(content)

    monkeypatch.setattr(RoomConsumer, "encode_json", classmethod(counting_encode))
    dumps: list[object] = []
    real_dumps = json.dumps
    monkeypatch.setattr(
        "apps.rooms.services.access.json.dumps",
        lambda obj, **kw: dumps.append(obj) or real_dumps(obj, **kw),
    )
    sender = clients[1]
    await sender.send(type="send", client_id="once-1", body="to everyone")
    await sender.expect("ack", client_id="once-1")
    for client in (clients[0], clients[2]):
        assert (await client.expect_chat())["body"] == "to everyone"
    assert [frame.get("type") for frame in encoded] == ["ack"]  # type: ignore[union-attr]
    assert len([d for d in dumps if isinstance(d, dict) and d.get("type") == "message"]) == 1
    for client in clients:
        await client.close()


async def test_resend_with_same_client_id_is_not_duplicated(live_session, patient, member2):
    sender = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await sender.send(type="send", client_id="same", body="once")
    first = await sender.expect("ack")
    assert (await other.expect_chat())["id"] == first["id"]
    await sender.send(type="send", client_id="same", body="once")
    second = await sender.expect("ack")
    assert second["duplicate"] is True
    assert second["id"] == first["id"]
    assert await db(Message.objects.filter(client_id="same").count)() == 1
    assert await other.nothing_of("message")
    await sender.close()
    await other.close()


async def test_reconnect_receives_missed_messages_in_order(live_session, patient, member2):
    reader = await connect(live_session.pk, patient)
    writer = await connect(live_session.pk, member2)
    await writer.send(type="send", client_id="w0", body="seen")
    seen = await writer.expect("ack")
    await reader.close()
    for i in range(1, 6):
        await writer.send(type="send", client_id=f"w{i}", body=f"missed {i}")
        await writer.expect("ack")
    reader = await connect(live_session.pk, patient)
    await reader.send(type="sync", after=seen["id"])
    batch = await reader.expect("messages")
    chats = [m["body"] for m in batch["messages"] if m["kind"] == "chat"]
    assert chats == [f"missed {i}" for i in range(1, 6)]
    ids = [m["id"] for m in batch["messages"]]
    assert ids == sorted(set(ids))
    assert all(i > seen["id"] for i in ids)
    assert batch["more"] is False
    await reader.close()
    await writer.close()


async def test_scroll_back_pages_through_history(live_session, patient):
    client = await connect(live_session.pk, patient)
    ids = []
    for i in range(7):
        await client.send(type="send", client_id=f"h{i}", body=f"line {i}")
        ids.append((await client.expect("ack"))["id"])
    await client.send(type="history", before=ids[-1], limit=3)
    page = await client.expect("history")
    assert [m["body"] for m in page["messages"]] == ["line 3", "line 4", "line 5"]
    assert page["more"] is True
    await client.close()


async def test_typing_is_broadcast_and_throttled(live_session, patient, member2):
    typist = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await typist.send(type="typing")
    frame = await other.expect("typing")
    assert frame["user"] == {"id": patient.pk, "name": "Pat"}
    await typist.send(type="typing")
    assert await other.nothing_of("typing", timeout=0.4)
    await typist.close()
    await other.close()


async def test_read_marker_reaches_facilitator_and_never_moves_back(
    live_session, clinician, patient
):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    await fac.send(type="send", client_id="f1", body="first")
    m1 = (await fac.expect("ack"))["id"]
    await fac.send(type="send", client_id="f2", body="second")
    m2 = (await fac.expect("ack"))["id"]
    await member.send(type="read", message_id=m2)
    marker = await fac.expect("read")
    assert marker == {"v": 1, "type": "read", "user_id": patient.pk, "message_id": m2}
    await member.send(type="read", message_id=m1)
    assert await fac.nothing_of("read")
    p = await db(Participant.objects.get)(user=patient)
    assert p.last_read_message_id == m2
    await member.close()
    await fac.close()


async def test_raise_hand_is_broadcast(live_session, clinician, patient):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    await member.send(type="hand", raised=True)
    frame = await fac.expect("hand")
    assert frame["raised"] is True and frame["user"]["id"] == patient.pk
    await member.send(type="hand", raised=False)
    assert (await fac.expect("hand"))["raised"] is False
    await member.close()
    await fac.close()


async def test_ping_answers_pong(live_session, patient):
    client = await connect(live_session.pk, patient)
    await client.send(type="ping")
    assert (await client.expect("pong"))["v"] == 1
    await client.close()


# --- Moderation ------------------------------------------------------------------------


async def test_facilitator_deletes_a_message_leaving_a_tombstone(
    live_session, clinician, patient, member2
):
    fac = await connect(live_session.pk, clinician)
    author = await connect(live_session.pk, patient)
    await author.send(type="send", client_id="oops", body="something to delete")
    mid = (await author.expect("ack"))["id"]
    await fac.send(type="delete", message_id=mid)
    assert (await author.expect("deleted"))["message_id"] == mid
    message = await db(Message.objects.get)(pk=mid)
    assert message.deleted_at is not None and message.body == "something to delete"
    assert await db(
        AuditEvent.objects.filter(
            actor=clinician, action="moderate", object_id=str(mid), patient=patient
        ).exists
    )()
    # A late joiner's catch-up shows the tombstone without the text.
    late = await connect(live_session.pk, member2)
    await late.send(type="sync", after=0)
    batch = await late.expect("messages")
    gone = next(m for m in batch["messages"] if m["id"] == mid)
    assert gone["deleted"] is True and gone["body"] == ""
    await late.send(type="sync", after=mid)
    assert mid in (await late.expect("messages"))["deleted"]
    await late.close()
    await author.close()
    await fac.close()


async def test_muted_members_messages_are_refused(live_session, clinician, patient):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    await fac.send(type="mute", user_id=patient.pk, minutes=5)
    told = await member.expect("you_muted")
    assert told["until"]
    assert (await fac.expect("muted"))["user"]["id"] == patient.pk
    await member.send(type="send", client_id="m1", body="can I talk?")
    error = await member.expect("error")
    assert error["code"] == "muted" and error["ref"] == "m1"
    assert not await db(Message.objects.filter(client_id="m1").exists)()
    assert await db(AuditEvent.objects.filter(actor=clinician, detail="room mute 5 min").exists)()
    await fac.send(type="mute", user_id=patient.pk, minutes=0)
    assert (await member.expect("you_muted"))["until"] is None
    await member.send(type="send", client_id="m2", body="thanks")
    assert (await member.expect("ack"))["client_id"] == "m2"
    await member.close()
    await fac.close()


async def test_removed_member_is_disconnected_at_once(live_session, clinician, patient, member2):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await fac.send(type="remove", user_id=patient.pk)
    await member.expect("removed")
    assert await member.expect_close() == 4403
    note = await other.expect_system("removed")
    assert note["subject"]["id"] == patient.pk
    assert await db(
        AuditEvent.objects.filter(actor=clinician, detail="room member removed").exists
    )()
    await other.close()
    await fac.close()


async def test_pin_announcement(live_session, clinician, patient):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    await fac.send(type="pin", body="Break at 7:30")
    assert (await member.expect("pinned"))["pinned"]["text"] == "Break at 7:30"
    await fac.send(type="pin", body="")
    assert (await member.expect("pinned"))["pinned"] is None
    assert await db(AuditEvent.objects.filter(detail="room pin").exists)()
    await member.close()
    await fac.close()


async def test_end_session_closes_every_socket(live_session, clinician, patient):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    await fac.send(type="end")
    await member.expect("ended")
    assert await member.expect_close() == 4410
    assert await fac.expect_close() == 4410
    room = await db(Room.objects.get)(session=live_session)
    assert room.ended_at is not None and room.ended_by_id == clinician.pk
    assert await db(AuditEvent.objects.filter(detail="room ended").exists)()
    assert await refused(live_session.pk, patient) == 4410


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "admit", "user_id": 1},
        {"type": "admit_all"},
        {"type": "delete", "message_id": 1},
        {"type": "mute", "user_id": 1, "minutes": 5},
        {"type": "remove", "user_id": 1},
        {"type": "lock", "locked": True},
        {"type": "pin", "body": "mine now"},
        {"type": "end"},
    ],
)
async def test_members_cannot_moderate(live_session, patient, frame):
    member = await connect(live_session.pk, patient)
    await member.send(**frame)
    assert (await member.expect("error"))["code"] == "not_facilitator"
    room = await db(Room.objects.get)(session=live_session)
    assert room.ended_at is None and not room.locked and not room.pinned_text
    await member.close()


async def test_ending_soon_is_announced_once(program, clinician, patient):
    session = await db(make_session)(
        program,
        [clinician],
        [patient],
        starts_in=dt.timedelta(minutes=-57),
        length=dt.timedelta(minutes=60),
    )
    member = await connect(session.pk, patient)
    await member.send(type="ping")
    await member.expect_system("ending_soon")
    await member.send(type="ping")
    await member.expect("pong")
    assert await member.nothing_of("message")
    count = await db(Message.objects.filter(system_event="ending_soon").count)()
    assert count == 1
    await member.close()


# --- Access re-checked on every action ----------------------------------------------------


async def test_member_discharged_mid_session_is_disconnected(live_session, patient):
    member = await connect(live_session.pk, patient)
    await db(GroupMembership.objects.filter(patient=patient).update)(
        status="ended", to_date=live_session.occurrence_date
    )
    await member.send(type="send", client_id="x", body="still here?")
    await member.expect("removed")
    assert await member.expect_close() == 4403
    assert not await db(Message.objects.filter(client_id="x").exists)()


async def test_periodic_check_disconnects_a_discharged_member(live_session, patient, monkeypatch):
    from apps.rooms.consumers import RoomConsumer

    monkeypatch.setattr(RoomConsumer, "check_seconds", 0.2)
    member = await connect(live_session.pk, patient)
    await db(GroupMembership.objects.filter(patient=patient).update)(status="ended")
    assert await member.expect_close(timeout=3) == 4403


async def test_logged_out_sockets_are_closed(live_session, patient):
    member = await connect(live_session.pk, patient)
    await db(user_sockets_close)(user_id=patient.pk, reason="logged_out")
    assert await member.expect_close() == 4401


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "send", "client_id": "late", "body": "still there?"},
        {"type": "ping"},
        {"type": "send", "client_id": "", "body": ""},  # a bad frame: checked too
    ],
)
async def test_an_idle_expired_session_closes_the_room_socket_on_its_next_frame(
    live_session, patient, settings, frame, monkeypatch
):
    """The session is checked with the frame's service, in the same trip to the pool: a
    user back after the idle timeout (no request, no frame since) is refused, though the
    socket read the session moments before (in this test's time)."""
    from tests.rooms.conftest import communicator_for, session_for

    store = await db(session_for)(patient)
    comm = communicator_for(live_session.pk, store)
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_json_from(timeout=3)  # welcome

    later = time.time() + settings.IDLE_TIMEOUT_SECONDS + 10
    monkeypatch.setattr(time, "time", lambda: later)
    await comm.send_json_to(frame)
    while True:
        output = await comm.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
        assert '"ack"' not in output.get("text", "") and '"pong"' not in output.get("text", "")
    assert output["code"] == 4401
    assert not await db(Message.objects.filter(client_id="late").exists)()
    await comm.disconnect()


# --- Bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "invalid_frame"),
        ('"send"', "invalid_frame"),
        ("{}", "missing_type"),
        ('{"type": "launch"}', "unknown_type"),
        ('{"type": "send", "body": "hi"}', "invalid_fields"),
        ('{"type": "send", "client_id": "c", "body": ""}', "invalid_fields"),
        ('{"type": "send", "client_id": "c", "body": "   "}', "invalid_fields"),
        ('{"type": "send", "client_id": "bad id!", "body": "hi"}', "invalid_fields"),
        ('{"type": "send", "client_id": "c", "body": 42}', "invalid_fields"),
        ('{"type": "send", "client_id": "c", "body": "hi", "v": 2}', "unsupported_version"),
        ('{"type": "sync", "after": "5"}', "invalid_fields"),
        ('{"type": "sync", "after": -1}', "invalid_fields"),
        ('{"type": "history", "before": 1, "limit": 1000}', "invalid_fields"),
        ('{"type": "read"}', "invalid_fields"),
        ('{"type": "read", "message_id": 999999}', "not_found"),
        ('{"type": "hand", "raised": "yes"}', "invalid_fields"),
    ],
)
async def test_bad_frames_get_an_error_and_change_nothing(live_session, patient, raw, code):
    client = await connect(live_session.pk, patient)
    before = await db(Message.objects.count)()
    await client.comm.send_to(text_data=raw)
    error = await client.expect("error")
    assert error["code"] == code
    assert error["v"] == 1
    assert await db(Message.objects.count)() == before
    await client.send(type="ping")
    assert (await client.expect("pong"))["type"] == "pong"  # still connected
    await client.close()


async def test_body_over_4000_characters_is_refused(live_session, patient):
    client = await connect(live_session.pk, patient)
    await client.send(type="send", client_id="long", body="x" * 4001)
    error = await client.expect("error")
    assert error["code"] == "too_long" and error["fields"] == ["body"]
    assert not await db(Message.objects.filter(client_id="long").exists)()
    await client.send(type="send", client_id="max", body="x" * 4000)
    assert (await client.expect("ack"))["client_id"] == "max"
    await client.close()


async def test_frame_over_64kb_is_refused(live_session, patient):
    client = await connect(live_session.pk, patient)
    await client.comm.send_to(text_data='{"type": "ping", "pad": "' + "x" * 70_000 + '"}')
    assert (await client.expect("error"))["code"] == "frame_too_large"
    await client.send(type="ping")
    await client.expect("pong")
    await client.close()


async def test_rate_limit_gives_an_error_not_a_disconnect(live_session, patient, settings):
    settings.ROOMS_RATE_LIMIT_MESSAGES = 5
    settings.ROOMS_RATE_LIMIT_SECONDS = 3600  # none of the five leaves the window during the test
    client = await connect(live_session.pk, patient)
    acks, errors = 0, 0
    for i in range(7):
        await client.send(type="send", client_id=f"r{i}", body=f"msg {i}")
    for _ in range(7):
        while True:
            frame = await client.comm.receive_json_from(timeout=3)
            if frame["type"] == "ack":
                acks += 1
                break
            if frame["type"] == "error":
                assert frame["code"] == "rate_limited"
                errors += 1
                break
    assert (acks, errors) == (5, 2)
    assert await db(Message.objects.filter(kind="chat").count)() == 5
    await client.send(type="ping")
    await client.expect("pong")
    await client.close()


# --- Risk phrases ------------------------------------------------------------------------


async def test_risk_phrase_alerts_facilitators_privately(live_session, clinician, patient, member2):
    await db(RiskPhrase.objects.create)(phrase="end it all")
    fac = await connect(live_session.pk, clinician)
    author = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await author.send(type="send", client_id="r1", body="Some days I just want to END it   all.")
    ack = await author.expect("ack")
    alert = await fac.expect("risk_alert")
    assert alert["message_id"] == ack["id"]
    assert alert["user"] == {"id": patient.pk, "name": "Pat"}
    assert alert["link"] == f"/rooms/{live_session.pk}/#m-{ack['id']}"
    assert alert["crisis_plan_url"].endswith(f"/patients/{patient.pk}/safety-plan/")
    # Delivered normally; nobody but the facilitators hears of the alert.
    assert await author.nothing_of("risk_alert")
    assert await other.nothing_of("risk_alert")
    assert await db(RiskAlert.objects.filter(message_id=ack["id"], patient=patient).exists)()
    from apps.measures.models import SafetyFlag
    from apps.notifications.models import Outbox

    flag = await db(SafetyFlag.objects.get)(patient=patient, source="room_message")
    assert alert["flag_url"] == f"/measures/flags/{flag.pk}/"
    assert "group chat" in flag.reason and "end it all" not in flag.reason

    assert await db(Outbox.objects.filter(recipient=clinician, kind="safety_alert").exists)()
    await author.send(
        type="send", client_id="r2", body="We should not pretend this will end italic"
    )
    await author.expect("ack")
    assert await db(RiskAlert.objects.count)() == 1
    for c in (fac, author, other):
        await c.close()


# --- Cost per process, not per socket ---------------------------------------------------


async def test_one_check_per_period_covers_every_socket_of_every_room(
    live_session, program, clinician, patient, member2, monkeypatch
):
    """One service call a period for the process's rooms (up to ``ROOM_TICK_BATCH``), not
    one per socket or per room."""
    import asyncio

    from asgiref.sync import sync_to_async

    from apps.rooms import services
    from apps.rooms.consumers import RoomConsumer
    from tests.rooms.factories import make_session

    second = await sync_to_async(make_session)(program, [clinician])
    calls: list[dict[int, set[int]]] = []
    real_tick = services.rooms_tick

    def counting_tick(*, rooms):
        calls.append({room: {user_id for _, user_id in sockets} for room, sockets in rooms.items()})
        return real_tick(rooms=rooms)

    monkeypatch.setattr(services, "rooms_tick", counting_tick)
    monkeypatch.setattr(RoomConsumer, "check_seconds", 0.3)
    clients = [await connect(live_session.pk, u) for u in (clinician, patient, member2)]
    clients.append(await connect(second.pk, clinician))
    await asyncio.sleep(1.0)  # a few ticker periods: the calls per period are what is counted
    for client in clients:
        await client.close()
    assert 2 <= len(calls) <= 5  # one call a period, not one per socket or room
    assert {live_session.pk: {clinician.pk, patient.pk, member2.pk}, second.pk: {clinician.pk}} in (
        calls
    )


async def test_a_burst_of_messages_reaches_everyone_once_with_seqs_in_id_order(
    live_session, clinician, patient, member2, settings, monkeypatch
):
    """Sends run on several threads at once, each slow to publish after its commit
    (simulated): broadcasts may arrive out of order, but every message arrives once and
    its seq follows its id with no hole, which is what lets a client put them in order
    and notice a lost one (tests/rooms/test_gaps.py)."""
    import asyncio
    import random
    import time

    from apps.core import events

    settings.ROOMS_RATE_LIMIT_MESSAGES = 100
    real_send = events.group_send_now

    def slow_send(group, event):
        time.sleep(random.uniform(0, 0.02))  # noqa: S311 - a slow publish (simulated)
        real_send(group, event)

    monkeypatch.setattr(events, "group_send_now", slow_send)

    senders = [await connect(live_session.pk, u) for u in (clinician, patient, member2)]
    listener = senders[0]
    await asyncio.gather(
        *(
            client.send(type="send", client_id=f"burst-{n}-{i}", body=f"burst {i}")
            for n, client in enumerate(senders)
            for i in range(10)
        )
    )
    got = []
    while len(got) < 30:
        message = await listener.expect_chat(timeout=10)
        got.append((message["id"], message["seq"]))
    assert len({i for i, _ in got}) == 30
    in_id_order = sorted(got)
    first_seq = in_id_order[0][1]
    assert [seq for _, seq in in_id_order] == list(range(first_seq, first_seq + 30))
    for client in senders:
        await client.close()


# --- The process's room hub: one subscription per room, events handed out in order ------------


async def test_a_room_is_subscribed_once_per_process_whatever_its_sockets(
    live_session, clinician, patient, member2, monkeypatch
):
    """Three sockets of one room: one group_add for the room (the hub's), none per socket;
    the last socket to leave unsubscribes it and the hub stops listening."""
    from channels.layers import get_channel_layer

    from apps.rooms.consumers import _hub
    from apps.rooms.models import room_group

    layer = get_channel_layer()
    added: list[tuple[str, str]] = []
    discarded: list[tuple[str, str]] = []
    real_add, real_discard = layer.group_add, layer.group_discard

    async def group_add(group, channel):
        added.append((group, channel))
        await real_add(group, channel)

    async def group_discard(group, channel):
        discarded.append((group, channel))
        await real_discard(group, channel)

    monkeypatch.setattr(layer, "group_add", group_add)
    monkeypatch.setattr(layer, "group_discard", group_discard)
    clients = [await connect(live_session.pk, u) for u in (clinician, patient, member2)]
    room = room_group(live_session.pk)
    assert [g for g, _ in added if g.startswith("room.")] == [room]
    hub = _hub()
    assert len(hub.rooms[live_session.pk]) == 3
    await clients[1].send(type="send", client_id="hub-1", body="heard by all")
    for client in (clients[0], clients[2]):
        assert (await client.expect_chat())["body"] == "heard by all"
    for client in clients:
        await client.close()
    assert [g for g, _ in discarded if g.startswith("room.")] == [room]
    assert hub.rooms == {} and hub.task is None and hub.channel is None


async def test_events_published_while_the_snapshot_is_read_follow_the_welcome(
    live_session, patient, member2, monkeypatch
):
    """A message stored after the joining socket's snapshot was read, but before the socket
    has its welcome frame, reaches it after the welcome: not lost, not ahead of it."""
    from apps.rooms import services

    real_connect = services.room_connect

    def connect_then_someone_posts(**kwargs):
        first = real_connect(**kwargs)
        services.room_message_post(
            author=member2, session_id=live_session.pk, body="while you joined", client_id="mid-1"
        )
        time.sleep(0.3)  # the broadcast reaches this process while the snapshot is in hand
        return first

    other = await connect(live_session.pk, member2)
    monkeypatch.setattr(services, "room_connect", connect_then_someone_posts)
    client = await connect(live_session.pk, patient)
    assert client.first["type"] == "welcome"
    assert "while you joined" not in [m.get("body") for m in client.first.get("messages", [])]
    assert (await client.expect_chat())["body"] == "while you joined"
    await client.close()
    await other.close()


async def test_a_socket_that_falls_too_far_behind_is_closed_for_a_reconnect(
    live_session, patient, member2, monkeypatch
):
    from apps.rooms import consumers, services

    real_connect = services.room_connect

    def slow_connect(**kwargs):
        first = real_connect(**kwargs)
        for n in range(3):
            services.room_message_post(
                author=member2, session_id=live_session.pk, body=f"m{n}", client_id=f"slow-{n}"
            )
        time.sleep(0.3)  # a slow join (simulated): the broadcasts pile up meanwhile
        return first

    other = await connect(live_session.pk, member2)
    monkeypatch.setattr(consumers, "HELD_EVENTS_LIMIT", 2)
    monkeypatch.setattr(services, "room_connect", slow_connect)
    comm = communicator_for(live_session.pk, await db(session_for)(patient))
    connected, _ = await comm.connect()
    assert connected
    codes = []
    while True:
        output = await comm.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            codes.append(output.get("code"))
            break
    assert codes == [4503]
    await comm.disconnect()
    await other.close()


async def test_a_removed_member_hears_nothing_sent_after_the_removal(
    live_session, clinician, patient, member2, monkeypatch
):
    """The removal and the room's next messages come through the same subscription in the
    order they were sent: the removed socket gets ``removed`` and closes, never a message
    posted after it, even while it is slow to act on the removal (simulated)."""
    import asyncio

    from apps.rooms.consumers import RoomConsumer

    real_control = RoomConsumer._on_control

    async def slow_control(self, event):
        await asyncio.sleep(0.3)  # the next messages arrive meanwhile
        await real_control(self, event)

    monkeypatch.setattr(RoomConsumer, "_on_control", slow_control)
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await fac.send(type="remove", user_id=patient.pk)
    await other.expect_system("removed")
    for n in range(3):
        await other.send(type="send", client_id=f"after-{n}", body=f"after removal {n}")
    await other.expect("ack", client_id="after-2")
    frames, closed_with = [], None
    while True:  # everything the socket is sent, up to its close and a moment after
        try:
            output = await member.comm.receive_output(timeout=0.6 if closed_with else 3)
        except TimeoutError:
            break
        if output["type"] == "websocket.close":
            closed_with = output["code"]
        else:
            frames.append(json.loads(output["text"]))
    assert closed_with == 4403
    chats = [f["message"]["body"] for f in frames if f.get("type") == "message"]
    assert not [body for body in chats if body.startswith("after removal")]
    assert "removed" in [f.get("type") for f in frames]
    await other.close()
    await fac.close()


async def test_facilitator_and_personal_events_reach_only_their_sockets(
    live_session, clinician, patient, member2
):
    fac = await connect(live_session.pk, clinician)
    member = await connect(live_session.pk, patient)
    other = await connect(live_session.pk, member2)
    await member.send(type="send", client_id="r-1", body="mark me read")
    message = await other.expect_chat()
    await other.send(type="read", message_id=message["id"])
    assert (await fac.expect("read"))["user_id"] == member2.pk  # facilitators only
    await fac.send(type="mute", user_id=member2.pk, minutes=5)
    await other.expect("you_muted")  # the muted member only
    assert await member.nothing_of("read")
    assert await member.nothing_of("you_muted")
    for client in (fac, member, other):
        await client.close()


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x1f"])
async def test_control_character_in_a_message_is_refused_and_the_socket_stays_open(
    live_session, patient, char
):
    # Issue 24 item 8: a NUL closed the socket with 1011 (PostgreSQL refuses it).
    client = await connect(live_session.pk, patient)
    await client.send(type="send", client_id="nul", body=f"hello{char}there")
    error = await client.expect("error")
    assert error["code"] == "invalid_text" and error["ref"] == "nul"
    assert not await db(Message.objects.filter(client_id="nul").exists)()
    # Still open and usable: the next message goes through on the same socket.
    await client.send(type="send", client_id="ok", body="tab\tand\r\nnewlines are fine")
    assert (await client.expect("ack"))["message"]["body"] == "tab\tand\r\nnewlines are fine"
    await client.close()


async def test_control_character_in_a_pin_is_refused(live_session, clinician):
    client = await connect(live_session.pk, clinician)
    await client.send(type="pin", body="read\x00me")
    assert (await client.expect("error"))["code"] == "invalid_text"
    await client.send(type="ping")
    assert (await client.expect("pong"))["type"] == "pong"
    await client.close()
