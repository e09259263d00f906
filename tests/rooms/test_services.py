"""Room services and selectors: the access rule, the room's phases, idempotent messages,
ordered catch-up, risk phrases, moderation audit and demo data."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.rooms import selectors, services
from apps.rooms.models import Message, Participant, RiskAlert, RiskPhrase, Room
from apps.rooms.protocol import FrameError, parse_frame
from apps.rooms.selectors import Phase
from apps.rooms.services import RoomClosed, RoomError, RoomForbidden
from tests.factories import admin_user, clinician_in, patient_in
from tests.rooms.factories import add_member, make_session

pytestmark = pytest.mark.django_db


def _connect(user, session, channel="chan"):
    return services.room_connect(
        user=user, session_id=session.pk, channel_name=f"{channel}-{user.pk}"
    )


# --- Access ------------------------------------------------------------------------------


def test_member_and_facilitator_may_join_live(live_session, patient, clinician):
    member = selectors.room_access(user=patient, session_id=live_session.pk)
    assert member is not None and member.is_member and not member.is_facilitator
    fac = selectors.room_access(user=clinician, session_id=live_session.pk)
    assert fac is not None and fac.is_facilitator and fac.may_join_live


def test_outsiders_get_no_access(live_session, outsider, other_clinician):
    assert selectors.room_access(user=outsider, session_id=live_session.pk) is None
    assert selectors.room_access(user=other_clinician, session_id=live_session.pk) is None


def test_other_staff_of_the_program_may_only_read_history(live_session, program):
    colleague = clinician_in(program, email="colleague@example.test")
    access = selectors.room_access(user=colleague, session_id=live_session.pk)
    assert access is not None and not access.may_join_live and access.may_read_history
    with pytest.raises(RoomForbidden):
        services.room_check(user=colleague, session_id=live_session.pk)


def test_admin_without_facilitation_cannot_join_live(live_session):
    admin = admin_user(email="boss@example.test")
    access = selectors.room_access(user=admin, session_id=live_session.pk)
    assert access is None or not access.may_join_live


def test_covering_facilitator_may_moderate(live_session, program):
    cover = clinician_in(program, email="cover@example.test")
    live_session.facilitator = cover
    live_session.save(update_fields=["facilitator"])
    access = selectors.room_access(user=cover, session_id=live_session.pk)
    assert access is not None and access.is_facilitator


def test_discharged_member_loses_live_access_but_keeps_history(live_session, patient):
    live_session.group.memberships.filter(patient=patient).update(
        status="ended", to_date=live_session.occurrence_date
    )
    access = selectors.room_access(user=patient, session_id=live_session.pk)
    assert access is not None and not access.is_member and access.may_read_history


def test_bad_session_ids_are_refused(patient):
    assert selectors.room_access(user=patient, session_id="abc") is None
    assert selectors.room_access(user=patient, session_id=0) is None


# --- Phases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes_from_start", "phase"),
    [
        (-16, Phase.NOT_OPEN),
        (-15, Phase.LIVE),
        (0, Phase.LIVE),
        (69, Phase.LIVE),
        (70, Phase.ENDED),
    ],
)
def test_room_phase_boundaries(program, clinician, minutes_from_start, phase, settings):
    settings.ROOMS_GRACE_MINUTES = 10
    session = make_session(program, [clinician], length=dt.timedelta(minutes=60))
    now = session.starts_at + dt.timedelta(minutes=minutes_from_start)
    assert selectors.room_phase(session=session, room=None, now=now) == phase


def test_open_before_is_configurable(program, clinician, settings):
    settings.ROOMS_OPEN_MINUTES_BEFORE = 30
    session = make_session(program, [clinician])
    now = session.starts_at - dt.timedelta(minutes=29)
    assert selectors.room_phase(session=session, room=None, now=now) == Phase.LIVE


def test_ended_room_is_history_then_expires(live_session, settings):
    settings.ROOMS_HISTORY_DAYS = 30
    room = Room.objects.create(session=live_session, ended_at=timezone.now())
    assert selectors.room_phase(session=live_session, room=room) == Phase.ENDED
    later = timezone.now() + dt.timedelta(days=31)
    assert selectors.room_phase(session=live_session, room=room, now=later) == Phase.EXPIRED


# --- Messages ----------------------------------------------------------------------------


def test_message_post_is_idempotent_per_client_id(
    live_session, patient, django_capture_on_commit_callbacks
):
    _connect(patient, live_session)
    with django_capture_on_commit_callbacks(execute=False) as first_events:
        payload, created = services.room_message_post(
            author=patient, session_id=live_session.pk, body="hi", client_id="x1"
        )
    assert created and len(first_events) == 1
    with django_capture_on_commit_callbacks(execute=False) as again:
        payload2, created2 = services.room_message_post(
            author=patient, session_id=live_session.pk, body="hi", client_id="x1"
        )
    assert not created2 and payload2["id"] == payload["id"]
    assert again == []  # nothing broadcast twice
    assert Message.objects.filter(kind="chat").count() == 1


def test_same_client_id_from_two_authors_are_two_messages(live_session, patient, member2):
    _connect(patient, live_session)
    _connect(member2, live_session)
    services.room_message_post(author=patient, session_id=live_session.pk, body="a", client_id="c")
    services.room_message_post(author=member2, session_id=live_session.pk, body="b", client_id="c")
    assert Message.objects.filter(kind="chat").count() == 2


def test_sync_returns_everything_after_an_id_in_pages(live_session, patient):
    _connect(patient, live_session)
    ids = [
        services.room_message_post(
            author=patient, session_id=live_session.pk, body=f"m{i}", client_id=f"m{i}"
        )[0]["id"]
        for i in range(5)
    ]
    room = Room.objects.get(session=live_session)
    page, more = selectors.messages_after(room=room, after=ids[0], limit=2)
    assert [m.pk for m in page] == ids[1:3] and more
    page, more = selectors.messages_after(room=room, after=ids[2], limit=2)
    assert [m.pk for m in page] == ids[3:5] and not more


def test_sync_query_count_does_not_grow_with_messages(
    live_session, patient, member2, django_assert_max_num_queries
):
    _connect(patient, live_session)
    _connect(member2, live_session)
    for i in range(3):
        services.room_message_post(
            author=patient, session_id=live_session.pk, body=f"a{i}", client_id=f"a{i}"
        )
    with django_assert_max_num_queries(40) as ctx:
        services.room_sync(user=patient, session_id=live_session.pk, after=0)
    few = len(ctx.captured_queries)
    for i in range(20):
        services.room_message_post(
            author=member2 if i % 2 else patient,
            session_id=live_session.pk,
            body=f"b{i}",
            client_id=f"b{i}",
        )
    with django_assert_max_num_queries(few):
        services.room_sync(user=patient, session_id=live_session.pk, after=0)


def test_a_post_is_stored_whole_and_marks_it_read_for_its_author_once(
    live_session, clinician, patient
):
    _connect(clinician, live_session)
    _connect(patient, live_session)
    theirs, _ = services.room_message_post(
        author=clinician, session_id=live_session.pk, body="welcome", client_id="c1"
    )
    mine, created = services.room_message_post(
        author=patient, session_id=live_session.pk, body="  hello all  ", client_id="p1"
    )
    assert created and mine["id"] > theirs["id"]
    stored = Message.objects.get(pk=mine["id"])
    assert (stored.kind, stored.body, stored.client_id, stored.author_id) == (
        "chat",
        "hello all",
        "p1",
        patient.pk,
    )
    assert stored.created_at is not None and stored.deleted_at is None
    assert Participant.objects.get(user=patient).last_read_message_id == mine["id"]
    again, created = services.room_message_post(  # the resend writes nothing
        author=patient, session_id=live_session.pk, body="hello all", client_id="p1"
    )
    assert not created and again == mine
    assert Message.objects.filter(author=patient).count() == 1
    # The same client id from someone else is their own message.
    other, created = services.room_message_post(
        author=clinician, session_id=live_session.pk, body="and you", client_id="p1"
    )
    assert created and other["id"] > mine["id"]
    assert Participant.objects.get(user=patient).last_read_message_id == mine["id"]
    assert Participant.objects.get(user=clinician).last_read_message_id == other["id"]


def test_muted_member_cannot_post(live_session, clinician, patient):
    _connect(clinician, live_session)
    _connect(patient, live_session)
    services.room_member_mute(
        by=clinician, session_id=live_session.pk, user_id=patient.pk, minutes=3
    )
    with pytest.raises(RoomError) as exc:
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="x", client_id="q"
        )
    assert exc.value.code == "muted"


def test_a_resend_of_a_stored_message_is_answered_even_when_now_muted(
    live_session, clinician, patient
):
    """The ack of a stored message was lost, the author got muted, the client resends:
    the resend gets the stored message back (no 'muted' for a message that went out)."""
    _connect(clinician, live_session)
    _connect(patient, live_session)
    first, _ = services.room_message_post(
        author=patient, session_id=live_session.pk, body="before", client_id="r1"
    )
    services.room_member_mute(
        by=clinician, session_id=live_session.pk, user_id=patient.pk, minutes=3
    )
    again, created = services.room_message_post(
        author=patient, session_id=live_session.pk, body="before", client_id="r1"
    )
    assert not created and again["id"] == first["id"]
    with pytest.raises(RoomError) as exc:  # a new message is still refused
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="new", client_id="r2"
        )
    assert exc.value.code == "muted"


def test_a_resend_over_the_rate_limit_returns_the_stored_message(
    live_session, patient, monkeypatch
):
    monkeypatch.setattr(services, "rate_limit", lambda: (1, 10))
    _connect(patient, live_session)
    first, _ = services.room_message_post(
        author=patient, session_id=live_session.pk, body="one", client_id="l1"
    )
    again, created = services.room_message_post(
        author=patient, session_id=live_session.pk, body="one", client_id="l1"
    )
    assert not created and again["id"] == first["id"]
    with pytest.raises(RoomError) as exc:
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="two", client_id="l2"
        )
    assert exc.value.code == "rate_limited"
    assert Message.objects.filter(kind="chat").count() == 1


def test_the_rate_limit_is_a_sliding_window_of_chat_messages_in_the_room(
    live_session, clinician, patient, monkeypatch
):
    """``limit`` chat messages in any ``window`` seconds: the oldest leaving the window lets
    exactly one more through (a fixed window let a burst across its edge store twice the
    limit). Others' messages and system messages do not count against the author."""
    monkeypatch.setattr(services, "rate_limit", lambda: (3, 10))
    _connect(clinician, live_session)
    _connect(patient, live_session)  # posts "joined" system messages
    services.room_message_post(
        author=clinician, session_id=live_session.pk, body="welcome", client_id="f1"
    )
    for i in range(3):
        services.room_message_post(
            author=patient, session_id=live_session.pk, body=f"m{i}", client_id=f"m{i}"
        )
    with pytest.raises(RoomError) as exc:
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="x", client_id="x1"
        )
    assert exc.value.code == "rate_limited"
    oldest = Message.objects.get(client_id="m0", author=patient)
    Message.objects.filter(pk=oldest.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=11)
    )
    _, created = services.room_message_post(
        author=patient, session_id=live_session.pk, body="one more", client_id="x2"
    )
    assert created
    with pytest.raises(RoomError) as exc:
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="y", client_id="x3"
        )
    assert exc.value.code == "rate_limited"
    assert not Message.objects.filter(client_id__in=["x1", "x3"]).exists()


def _race_a_post_with(change, live_session, patient):
    """Post as ``patient`` while another transaction has made ``change`` to their
    participant row but not committed it: the post's access read cannot see the change, its
    write waits on the row, the change commits. Returns what the post raised (or None)."""
    import threading

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    _connect(patient, live_session)
    holding, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def changer():
        try:
            with transaction.atomic():
                change()
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    def poster():
        try:
            services.room_message_post(
                author=patient, session_id=live_session.pk, body="racing", client_id="race"
            )
            outcome["raised"] = None
        except Exception as exc:  # noqa: BLE001 - what it raised is the result
            outcome["raised"] = exc
        finally:
            connections.close_all()

    first = threading.Thread(target=changer)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=poster)
    second.start()
    with connection.cursor() as cursor:  # wait until the post's write waits on the lock
        for _ in range(100):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ["%rooms_participant%FOR NO KEY UPDATE%"],
            )
            if cursor.fetchone()[0]:
                break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the post never waited on the row lock")
    release.set()
    first.join(10)
    second.join(10)
    return outcome["raised"]


@pytest.mark.django_db(transaction=True)
def test_a_removal_committed_while_a_post_was_on_its_way_refuses_the_post(live_session, patient):
    def remove():
        Participant.objects.filter(user=patient).update(status="removed", removed_at=timezone.now())

    raised = _race_a_post_with(remove, live_session, patient)
    assert isinstance(raised, RoomForbidden)
    assert not Message.objects.filter(kind="chat").exists()


@pytest.mark.django_db(transaction=True)
def test_a_mute_committed_while_a_post_was_on_its_way_refuses_the_post(live_session, patient):
    def mute():
        Participant.objects.filter(user=patient).update(
            muted_until=timezone.now() + dt.timedelta(minutes=3)
        )

    raised = _race_a_post_with(mute, live_session, patient)
    assert isinstance(raised, RoomError) and raised.code == "muted"
    assert not Message.objects.filter(kind="chat").exists()


def test_mute_expires(live_session, clinician, patient):
    _connect(clinician, live_session)
    _connect(patient, live_session)
    Participant.objects.filter(user=patient).update(
        muted_until=timezone.now() - dt.timedelta(seconds=1)
    )
    _, created = services.room_message_post(
        author=patient, session_id=live_session.pk, body="back", client_id="b"
    )
    assert created


def test_closed_room_refuses_posts(live_session, patient):
    _connect(patient, live_session)
    Room.objects.filter(session=live_session).update(ended_at=timezone.now())
    with pytest.raises(RoomClosed):
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="x", client_id="z"
        )


def test_facilitator_cannot_be_muted_or_removed(live_session, clinician, program):
    cofac = clinician_in(program, email="cofac@example.test")
    live_session.group.facilitators.add(cofac)
    _connect(clinician, live_session)
    _connect(cofac, live_session)
    with pytest.raises(RoomError) as exc:
        services.room_member_remove(by=clinician, session_id=live_session.pk, user_id=cofac.pk)
    assert exc.value.code == "not_found"


def test_admitting_a_non_member_fails(program, clinician, patient):
    session = make_session(program, [clinician], [patient], auto_admit=False)
    _connect(clinician, session)
    assert _connect(patient, session)["type"] == "waiting"
    session.group.memberships.update(status="ended")
    with pytest.raises(RoomError) as exc:
        services.room_admit(by=clinician, session_id=session.pk, user_id=patient.pk)
    assert exc.value.code == "not_member"
    assert Participant.objects.get(user=patient).status == "waiting"


def test_every_moderation_action_is_audited(live_session, clinician, patient):
    _connect(clinician, live_session)
    _connect(patient, live_session)
    payload, _ = services.room_message_post(
        author=patient, session_id=live_session.pk, body="x", client_id="d"
    )
    sid = live_session.pk
    services.room_message_delete(by=clinician, session_id=sid, message_id=payload["id"])
    services.room_member_mute(by=clinician, session_id=sid, user_id=patient.pk, minutes=2)
    services.room_lock(by=clinician, session_id=sid, locked=True)
    services.room_pin(by=clinician, session_id=sid, body="Breathe")
    services.room_member_remove(by=clinician, session_id=sid, user_id=patient.pk)
    services.room_end(by=clinician, session_id=sid)
    details = set(
        AuditEvent.objects.filter(actor=clinician, action="moderate").values_list(
            "detail", flat=True
        )
    )
    assert details == {
        "room message deleted",
        "room mute 2 min",
        "room locked",
        "room pin",
        "room member removed",
        "room ended",
    }


# --- Risk phrases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "hit"),
    [
        ("I want to KILL   myself", "kill myself"),
        ("thinking about an overdose.", "overdose"),
        ("overdosed last year", None),
        ("skill myselfie", None),
        ("a normal day", None),
    ],
)
def test_risk_phrase_matching(db, body, hit):
    for phrase in ("kill myself", "overdose"):
        RiskPhrase.objects.create(phrase=phrase)
    RiskPhrase.objects.create(phrase="a normal day", active=False)
    assert services._risk_match(body) == hit


def test_a_risk_phrase_added_or_retired_applies_to_the_next_message(db):
    """The phrases are kept per process for a few seconds; a change saved in admin (this
    process) applies at once."""
    assert services._risk_match("I took an overdose") is None  # now cached: no phrases
    phrase = RiskPhrase.objects.create(phrase="overdose")
    assert services._risk_match("I took an overdose") == "overdose"
    phrase.active = False
    phrase.save()
    assert services._risk_match("I took an overdose") is None
    RiskPhrase.objects.create(phrase="took an")
    assert services._risk_match("I took an overdose") == "took an"
    RiskPhrase.objects.filter(phrase="took an").update(active=False)  # no signal for this:
    assert services._risk_match("I took an overdose") == "took an"  # still cached...
    cached_at, patterns = services._risk_patterns_cache  # type: ignore[misc]
    services._risk_patterns_cache = (cached_at - services.RISK_PHRASES_CACHE_SECONDS, patterns)
    assert services._risk_match("I took an overdose") is None  # ...for a few seconds at most


def test_risk_phrase_is_normalised_in_admin(db):
    phrase = RiskPhrase(phrase="  End   IT all ")
    phrase.full_clean()
    assert phrase.phrase == "end it all"


def test_a_message_with_a_risk_phrase_is_not_kept_without_its_alert(
    live_session, patient, monkeypatch
):
    """The message and its alert are stored together: if raising the alert fails, the
    message is not stored (nor broadcast), and the client's resend tries both again."""
    from apps.measures import services as measures_services

    RiskPhrase.objects.create(phrase="overdose")
    _connect(patient, live_session)

    def broken(**kwargs):
        raise RuntimeError("flag store down")

    monkeypatch.setattr(measures_services, "safety_flag_raise", broken)
    with pytest.raises(RuntimeError):
        services.room_message_post(
            author=patient,
            session_id=live_session.pk,
            body="thinking of an overdose",
            client_id="r",
        )
    assert not Message.objects.filter(kind="chat").exists()
    monkeypatch.undo()
    _, created = services.room_message_post(
        author=patient, session_id=live_session.pk, body="thinking of an overdose", client_id="r"
    )
    assert created and RiskAlert.objects.filter(patient=patient).count() == 1


def test_facilitator_messages_do_not_raise_alerts(live_session, clinician):
    RiskPhrase.objects.create(phrase="overdose")
    _connect(clinician, live_session)
    services.room_message_post(
        author=clinician,
        session_id=live_session.pk,
        body="Today: overdose prevention",
        client_id="t",
    )
    assert not RiskAlert.objects.exists()


# --- Protocol ----------------------------------------------------------------------------


def test_protocol_parses_every_type():
    frames = [
        {"type": "ping"},
        {"type": "sync", "after": 3},
        {"type": "history", "before": 9},
        {"type": "send", "client_id": "a-1_B", "body": "x"},
        {"type": "typing"},
        {"type": "read", "message_id": 1},
        {"type": "hand", "raised": True},
        {"type": "admit", "user_id": 2},
        {"type": "admit_all"},
        {"type": "delete", "message_id": 3},
        {"type": "mute", "user_id": 2, "minutes": 120},
        {"type": "remove", "user_id": 2},
        {"type": "lock", "locked": False},
        {"type": "pin", "body": ""},
        {"type": "end", "v": 1},
    ]
    assert [parse_frame(f).type for f in frames] == [f["type"] for f in frames]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "mute", "user_id": 2, "minutes": 121},
        {"type": "mute", "user_id": 0, "minutes": 5},
        {"type": "pin", "body": "x" * 501},
        {"type": "hand", "raised": 1},
        {"type": "send", "client_id": "x" * 65, "body": "x"},
    ],
)
def test_protocol_refuses_out_of_range_values(frame):
    with pytest.raises(FrameError):
        parse_frame(frame)


# --- Demo --------------------------------------------------------------------------------


def test_demo_seed_is_idempotent(program, clinician, patient):
    from apps.rooms import demo

    out = io.StringIO()
    demo.seed(out)
    demo.seed(out)
    assert RiskPhrase.objects.count() == len(demo.DEFAULT_RISK_PHRASES)


def test_demo_messages_take_their_rooms_seq_once(program):
    from apps.rooms import demo
    from tests.factories import clinician_in, patient_in
    from tests.rooms.factories import make_session

    facilitator = clinician_in(program, email="clinician1@demo.test")
    members = [patient_in(program, email=f"patient{n}@demo.test") for n in (1, 2, 3)]
    session = make_session(program, [facilitator], members)
    out = io.StringIO()
    demo.seed(out)
    demo.seed(out)
    rows = Message.objects.filter(room__session=session).order_by("id")
    assert [m.seq for m in rows] == list(range(1, len(demo.DEMO_MESSAGES) + 1))


def test_sockets_of_a_dead_process_are_reaped_and_attendance_closed(
    live_session, clinician, patient
):
    from apps.rooms.models import Connection
    from apps.scheduling.models import Attendance

    _connect(clinician, live_session)
    _connect(patient, live_session)
    # The process died three minutes ago (simulated: the socket was opened and last seen then).
    last_seen = timezone.now() - dt.timedelta(minutes=3)
    Connection.objects.filter(user=patient).update(seen_at=last_seen, joined_at=last_seen)
    services._record_attendance(live_session, patient, last_seen, None)
    services.rooms_tick(rooms={live_session.pk: [(f"chan-{clinician.pk}", clinician.pk)]})
    assert not Connection.objects.filter(user=patient).exists()
    attendance = Attendance.objects.get(session=live_session, patient=patient)
    closed = [
        item for item in attendance.presence if item[0] == last_seen.astimezone(dt.UTC).isoformat()
    ]
    assert closed == [[last_seen.astimezone(dt.UTC).isoformat()] * 2]
    # Away long enough: the same check announced that they left, once.
    assert Message.objects.filter(system_event="left", subject=patient).count() == 1
    services.rooms_tick(rooms={live_session.pk: [(f"chan-{clinician.pk}", clinician.pk)]})
    assert Message.objects.filter(system_event="left", subject=patient).count() == 1


def test_the_periodic_check_announces_a_departure_that_fell_due(live_session, clinician, patient):
    """No dead socket, only someone away longer than ``left_after()``: the tick's one read
    finds the departure due and posts "left" once."""
    _connect(clinician, live_session)
    _connect(patient, live_session)
    services.room_disconnect(
        user=patient, session_id=live_session.pk, channel_name=f"chan-{patient.pk}"
    )
    sockets = [(f"chan-{clinician.pk}", clinician.pk)]
    services.rooms_tick(rooms={live_session.pk: sockets})
    assert not Message.objects.filter(system_event="left", subject=patient).exists()  # not yet
    Participant.objects.filter(user=patient).update(
        away_since=timezone.now() - services.left_after() - dt.timedelta(seconds=1)
    )
    services.rooms_tick(rooms={live_session.pk: sockets})
    services.rooms_tick(rooms={live_session.pk: sockets})
    assert Message.objects.filter(system_event="left", subject=patient).count() == 1


# --- The periodic check, once per process and room -----------------------------------------


def test_users_allowed_live_agrees_with_room_access(
    live_session, clinician, patient, member2, outsider, other_clinician, program
):
    from apps.scheduling.models import GroupMembership

    program_colleague = clinician_in(program, email="colleague@example.test")
    removed, discharged = member2, patient
    _connect(clinician, live_session)
    _connect(removed, live_session)
    services.room_member_remove(by=clinician, session_id=live_session.pk, user_id=removed.pk)
    GroupMembership.objects.filter(patient=discharged).update(status="ended")
    people = [clinician, patient, member2, outsider, other_clinician, program_colleague]
    allowed = selectors.users_allowed_live_in_rooms({live_session: {user.pk for user in people}})[
        live_session.pk
    ]
    for user in people:
        access = selectors.room_access(user=user, session_id=live_session.pk)
        expected = access is not None and access.may_join_live
        assert (user.pk in allowed) is expected, user.email
    assert allowed == {clinician.pk}


def test_room_tick_costs_the_same_for_two_sockets_or_twenty(live_session, clinician, program):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def tick_queries(count: int) -> int:
        sockets = []
        for i in range(count):
            member = patient_in(program, email=f"tick{count}-{i}@example.test")
            add_member(live_session, member)
            _connect(member, live_session, channel=f"tick{count}")
            sockets.append((f"tick{count}-{member.pk}", member.pk))
        with CaptureQueriesContext(connection) as ctx:
            refused = services.rooms_tick(rooms={live_session.pk: sockets})
        assert refused == {}
        return len(ctx.captured_queries)

    few, many = tick_queries(2), tick_queries(20)
    assert few == many
    # the room with its session and whether a notice is due; the access rule (3); presence
    assert many <= 5


def test_the_periodic_check_costs_the_same_for_one_room_or_six(program, clinician):
    """A process checks its rooms in batches: the five queries of one room's check cover
    many rooms (it was five queries a room, 10 ms of CPU each)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def tick_queries(count: int) -> int:
        rooms = {}
        for r in range(count):
            members = [
                patient_in(program, email=f"batch{count}-{r}-{k}@example.test") for k in range(3)
            ]
            session = make_session(program, [clinician], members)
            rooms[session.pk] = []
            for user in (clinician, *members):
                _connect(user, session, channel=f"batch{count}-{r}")
                rooms[session.pk].append((f"batch{count}-{r}-{user.pk}", user.pk))
        with CaptureQueriesContext(connection) as ctx:
            refused = services.rooms_tick(rooms=rooms)
        assert refused == {}
        return len(ctx.captured_queries)

    one, six = tick_queries(1), tick_queries(6)
    assert one == six
    assert six <= 5


def test_the_periodic_check_of_many_rooms_judges_each_room_by_its_own_members(
    live_session, program, clinician, patient, member2, other_clinician, other_program
):
    """A user allowed in one room of the batch is not thereby allowed in another; a
    discharge, a removal and an ended room each close only their own sockets."""
    from apps.rooms.models import Connection
    from apps.scheduling.models import GroupMembership

    second_member = patient_in(program, email="second-room@example.test")
    second = make_session(program, [clinician], [second_member])
    ended = make_session(program, [clinician], [member2])
    far = make_session(other_program, [other_clinician])
    for user in (clinician, patient, member2):
        _connect(user, live_session)
    for user in (clinician, second_member):
        _connect(user, second, channel="second")
    _connect(clinician, ended, channel="ended")
    _connect(other_clinician, far, channel="far")
    services.room_member_remove(by=clinician, session_id=live_session.pk, user_id=member2.pk)
    GroupMembership.objects.filter(patient=second_member).update(status="ended")
    services.room_end(by=clinician, session_id=ended.pk)
    long_ago = timezone.now() - dt.timedelta(seconds=60)
    Connection.objects.update(seen_at=long_ago)
    rooms = {
        live_session.pk: [(f"chan-{u.pk}", u.pk) for u in (clinician, patient, member2)],
        # patient's and other_clinician's sockets listed in rooms they have no seat in
        second.pk: [
            (f"second-{clinician.pk}", clinician.pk),
            (f"second-{second_member.pk}", second_member.pk),
            (f"second-{patient.pk}", patient.pk),
        ],
        ended.pk: [(f"ended-{clinician.pk}", clinician.pk)],
        far.pk: [
            (f"far-{other_clinician.pk}", other_clinician.pk),
            (f"far-{patient.pk}", patient.pk),
        ],
        -1: [("gone-1", clinician.pk)],
    }
    refused = services.rooms_tick(rooms=rooms)
    assert {channel: type(exc) for channel, exc in refused.items()} == {
        f"chan-{member2.pk}": RoomForbidden,
        f"second-{second_member.pk}": RoomForbidden,
        f"second-{patient.pk}": RoomForbidden,
        f"ended-{clinician.pk}": RoomClosed,
        f"far-{patient.pk}": RoomForbidden,
        "gone-1": RoomClosed,
    }
    fresh = set(
        Connection.objects.filter(seen_at__gt=long_ago).values_list("channel_name", flat=True)
    )
    assert fresh == {
        f"chan-{clinician.pk}",
        f"chan-{patient.pk}",
        f"second-{clinician.pk}",
        f"far-{other_clinician.pk}",
    }


def test_users_allowed_live_in_rooms_agrees_with_room_access_in_every_room(
    live_session, program, clinician, patient, member2, outsider
):
    from apps.scheduling.models import GroupMembership

    later = make_session(program, [clinician], [member2], starts_in=dt.timedelta(minutes=10))
    _connect(clinician, live_session)
    _connect(patient, live_session)
    services.room_member_remove(by=clinician, session_id=live_session.pk, user_id=patient.pk)
    # a membership that starts after the later session's date gives no seat in it
    GroupMembership.objects.filter(group=later.group, patient=member2).update(
        from_date=later.occurrence_date + dt.timedelta(days=1)
    )
    people = {u.pk: u for u in (clinician, patient, member2, outsider)}
    allowed = selectors.users_allowed_live_in_rooms({live_session: set(people), later: set(people)})
    for session in (live_session, later):
        for user in people.values():
            access = selectors.room_access(user=user, session_id=session.pk)
            expected = access is not None and access.may_join_live
            assert (user.pk in allowed[session.pk]) is expected, (session.pk, user.email)
    assert allowed == {live_session.pk: {clinician.pk, member2.pk}, later.pk: {clinician.pk}}


def test_refreshing_presence_writes_no_index(live_session, clinician, patient, member2):
    """The presence refresh (every socket, every few seconds) changes no indexed column, so
    PostgreSQL makes it a HOT update: no index grows, and old row versions are pruned within
    the page even where autovacuum is off (with ``seen_at`` indexed, 56,000 refreshes left
    63,000 dead rows in a 800-row table and the fan-out's p99 went from 0.1 to 0.7 s)."""
    from django.db import connection

    from apps.rooms.models import Connection

    if connection.vendor != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")
    for user in (clinician, patient, member2):
        _connect(user, live_session)
    sockets = [(f"chan-{u.pk}", u.pk) for u in (clinician, patient, member2)]

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_updated(%s::regclass),"
                " pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
                [Connection._meta.db_table] * 2,
            )
            return cursor.fetchone()

    before_all, before_hot = updates()
    for _ in range(3):
        assert services.rooms_tick(rooms={live_session.pk: sockets}) == {}
        services.room_ping(session_id=live_session.pk, channel_name=sockets[0][0])
    after_all, after_hot = updates()
    assert after_all - before_all == 12
    assert after_hot - before_hot == 12


def test_room_tick_refuses_only_the_discharged_and_refreshes_the_others(
    live_session, clinician, patient, member2
):
    from apps.rooms.models import Connection
    from apps.scheduling.models import GroupMembership

    for user in (clinician, patient, member2):
        _connect(user, live_session)
    long_ago = timezone.now() - dt.timedelta(seconds=60)
    Connection.objects.update(seen_at=long_ago)
    GroupMembership.objects.filter(patient=member2).update(status="ended")
    sockets = [(f"chan-{u.pk}", u.pk) for u in (clinician, patient, member2)]
    refused = services.rooms_tick(rooms={live_session.pk: sockets})
    assert list(refused) == [f"chan-{member2.pk}"]
    assert isinstance(refused[f"chan-{member2.pk}"], RoomForbidden)
    fresh = set(Connection.objects.filter(seen_at__gt=long_ago).values_list("user_id", flat=True))
    assert fresh == {clinician.pk, patient.pk}


def test_room_tick_closes_every_socket_of_an_ended_room(live_session, clinician, patient):
    _connect(clinician, live_session)
    _connect(patient, live_session)
    services.room_end(by=clinician, session_id=live_session.pk)
    sockets = [(f"chan-{u.pk}", u.pk) for u in (clinician, patient)]
    refused = services.rooms_tick(rooms={live_session.pk: sockets})
    assert set(refused) == {f"chan-{clinician.pk}", f"chan-{patient.pk}"}
    assert all(isinstance(exc, RoomClosed) for exc in refused.values())


def test_ping_is_cheap(live_session, patient, django_assert_max_num_queries):
    _connect(patient, live_session)
    with django_assert_max_num_queries(3):
        pong = services.room_ping(session_id=live_session.pk, channel_name=f"chan-{patient.pk}")
    assert pong["type"] == "pong"


def test_a_chat_message_costs_a_fixed_handful_of_queries(live_session, patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _connect(patient, live_session)
    with CaptureQueriesContext(connection) as ctx:
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="hello", client_id="q1"
        )
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    # The first also reads the risk phrases (then kept for a few seconds).
    assert len(statements) == 10, [s[:90] for s in statements]
    with CaptureQueriesContext(connection) as ctx:
        services.room_message_post(
            author=patient, session_id=live_session.pk, body="again", client_id="q2"
        )
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    # The access rule's three reads (session, participant row, seats), the room's lock, the
    # author re-read locked, the rate count, the insert, the seq, the read marker.
    assert len(statements) == 9, [s[:90] for s in statements]
    assert "FOR UPDATE" in statements[3] or connection.vendor != "postgresql"
    assert statements[6].startswith("INSERT INTO")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_seqs_in_id_order_and_each_broadcast_once(
    live_session, patient, member2, monkeypatch
):
    """Two writers (threads standing in for two daphne processes) post to one room while
    publishing is slow: the room's row lock gives ids and seqs in the same order with no
    hole, so a client can order what it gets and see what it lacks; each goes out once."""
    import random
    import threading
    import time as time_mod

    from django.db import connection, connections

    from apps.core import events

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    published: list[int] = []

    def slow_publish(group, event):
        payload = json.loads(event["text"])
        if payload.get("type") == "message" and payload["message"]["kind"] == "chat":
            time_mod.sleep(random.uniform(0, 0.02))  # noqa: S311
            published.append((payload["message"]["id"], payload["message"]["seq"]))

    monkeypatch.setattr(events, "group_send_now", slow_publish)
    monkeypatch.setattr(services, "rate_limit", lambda: (1000, 10))
    _connect(patient, live_session)
    _connect(member2, live_session)

    def writer(user, tag):
        try:
            for i in range(15):
                services.room_message_post(
                    author=user, session_id=live_session.pk, body="hi", client_id=f"{tag}{i}"
                )
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=writer, args=(patient, "a")),
        threading.Thread(target=writer, args=(member2, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(published) == 30 and len(set(published)) == 30
    seqs = [seq for _, seq in sorted(published)]
    assert seqs == list(range(seqs[0], seqs[0] + 30))


def test_joining_costs_the_same_with_two_people_in_the_room_or_twenty(
    live_session, clinician, program
):
    """A join reads the room's presence once (for the broadcast and the welcome frame),
    stores its socket in one statement, and costs the same however many are in the room."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _connect(clinician, live_session)
    counts = []
    for i in range(20):
        member = patient_in(program, email=f"join{i}@example.test")
        add_member(live_session, member)
        with CaptureQueriesContext(connection) as ctx:
            welcome = _connect(member, live_session)
        counts.append(len(ctx.captured_queries))
        assert welcome["type"] == "welcome"
        assert {p["id"] for p in welcome["presence"]} >= {clinician.pk, member.pk}
        sqls = [q["sql"] for q in ctx.captured_queries]
        presence_reads = [q for q in sqls if q.startswith('SELECT "rooms_connection"."user_id"')]
        assert len(presence_reads) == 1, presence_reads
        socket_writes = [q for q in sqls if '"rooms_connection"' in q and "SELECT 1" not in q]
        assert len(socket_writes) == 2, socket_writes  # the upsert, and presence's read
    assert len(welcome["presence"]) == 21
    assert counts[1] == counts[-1]
    # Was 38 (bench/RESULTS.md, eighth pass); 30, then one for the joined message's seq.
    assert counts[-1] <= 31
