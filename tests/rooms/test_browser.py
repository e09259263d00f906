"""A facilitator and two patients in three browser contexts against a real daphne: lobby,
admit, chat, typing indicator, delete, mute, end session."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, TOTP_SECRET
from tests.rooms.factories import make_session
from tests.rooms.servers import daphne, free_port, server_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room_server(transactional_db):
    port = free_port()
    with daphne(port, server_env()):
        yield f"http://127.0.0.1:{port}"


def test_facilitator_and_two_patients_run_a_group(
    room_server, new_page, browser_login, artifacts_dir, program, clinician, patient, member2
):
    session = make_session(program, [clinician], [patient, member2], auto_admit=False)
    room_url = f"{room_server}/rooms/{session.pk}/"

    fac = new_page()
    browser_login(fac, room_server, clinician.email, PASSWORD, TOTP_SECRET)
    fac.goto(room_url)
    expect(fac.locator("#conn-state")).to_have_text("Connected")
    expect(fac.get_by_role("heading", name="Facilitator controls")).to_be_visible()

    pat = new_page()
    browser_login(pat, room_server, patient.email, PASSWORD)
    pat.goto(room_url)
    expect(pat.get_by_role("heading", name="You are in the waiting room")).to_be_visible()
    expect(pat.get_by_label("Your message")).to_be_hidden()

    # The facilitator admits Pat from the lobby.
    fac.get_by_role("button", name="Admit Pat").click()
    expect(pat.get_by_label("Your message")).to_be_visible()
    expect(pat.locator("#lobby-wait")).to_be_hidden()

    robin = new_page(phone=True)
    browser_login(robin, room_server, member2.email, PASSWORD)
    robin.goto(room_url)
    expect(robin.get_by_role("heading", name="You are in the waiting room")).to_be_visible()
    fac.get_by_role("button", name="Admit everyone").click()
    expect(robin.get_by_label("Your message")).to_be_visible()
    expect(fac.locator("#people")).to_contain_text("Robin")

    # Typing indicator, then a message everyone sees (and screen readers hear).
    pat.get_by_label("Your message").press_sequentially("Hello from Pat", delay=20)
    expect(robin.locator("#typing")).to_have_text(re.compile("Pat is typing"))
    pat.get_by_label("Your message").press("Enter")
    expect(robin.locator("#chat-list")).to_contain_text("Hello from Pat")
    expect(fac.locator("#chat-list")).to_contain_text("Hello from Pat")
    expect(robin.locator("#announcer")).to_contain_text("Pat: Hello from Pat")

    robin.get_by_label("Your message").fill("Hi Pat, good to see you")
    robin.get_by_role("button", name="Send").click()
    expect(pat.locator("#chat-list")).to_contain_text("Hi Pat, good to see you")

    # The facilitator deletes Pat's message: a tombstone for everyone.
    fac.get_by_role("button", name=re.compile(r"^Delete: Pat")).click()
    expect(robin.locator("#chat-list")).to_contain_text("Message removed by a facilitator")
    expect(robin.locator("#chat-list")).not_to_contain_text("Hello from Pat")

    # The facilitator mutes Robin: Robin cannot send.
    fac.get_by_label("Mute length (minutes)").fill("10")
    fac.get_by_role("button", name="Mute Robin").click()
    expect(robin.get_by_label("Your message")).to_be_disabled()
    expect(robin.locator("#composer-error")).to_contain_text("muted you")
    expect(fac.locator("#people")).to_contain_text("muted")

    fac.screenshot(path=str(artifacts_dir / "rooms-facilitator.png"), full_page=True)
    robin.screenshot(path=str(artifacts_dir / "rooms-patient-phone.png"), full_page=True)

    # End the session: everyone is told and the chat becomes read-only.
    fac.get_by_role("button", name="End the session for everyone").click()
    fac.get_by_role("button", name="End session").click()
    for page in (pat, robin, fac):
        expect(page.locator("#room-closed")).to_contain_text("The session has ended")
    pat.reload()
    expect(pat.get_by_role("heading", name="Chat history")).to_be_visible()
    expect(pat.locator(".transcript")).to_contain_text("Hi Pat, good to see you")


def test_page_reconnects_after_a_server_restart_and_catches_up(
    new_page, browser_login, artifacts_dir, program, clinician, patient, transactional_db
):
    from apps.rooms import services
    from apps.rooms.models import Message

    session = make_session(program, [clinician], [patient])
    port = free_port()
    env = server_env()
    base = f"http://127.0.0.1:{port}"
    pat = new_page(phone=True)
    with daphne(port, env):
        browser_login(pat, base, patient.email, PASSWORD)
        pat.goto(f"{base}/rooms/{session.pk}/")
        expect(pat.locator("#conn-state")).to_have_text("Connected")
        pat.get_by_label("Your message").fill("before the restart")
        pat.get_by_label("Your message").press("Enter")
        expect(pat.locator("#chat-list .chat-msg:not(.pending)")).to_have_count(1)
    # The server is gone: the page says so and keeps what the patient types.
    expect(pat.locator("#conn-state")).to_have_text(re.compile("Reconnecting|Offline"))
    pat.get_by_label("Your message").fill("typed while offline")
    pat.get_by_label("Your message").press("Enter")
    expect(pat.locator("#chat-list")).to_contain_text("not sent yet")

    # Meanwhile the facilitator says something the page has not heard.
    def facilitator_speaks() -> None:
        from django.db import connection

        services.room_connect(user=clinician, session_id=session.pk, channel_name="test-fac")
        services.room_message_post(
            author=clinician, session_id=session.pk, body="while you were away", client_id="f1"
        )
        connection.close()

    # In another thread: Playwright's event loop runs in this one (broadcasts use async_to_sync).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(facilitator_speaks).result()
    with daphne(port, env):
        expect(pat.locator("#conn-state")).to_have_text("Connected", timeout=30_000)
        expect(pat.locator("#chat-list")).to_contain_text("while you were away")
        expect(pat.locator("#chat-list")).not_to_contain_text("not sent yet")
        pat.screenshot(path=str(artifacts_dir / "rooms-reconnected-phone.png"), full_page=True)
        bodies = list(
            Message.objects.filter(room__session=session, kind="chat")
            .order_by("id")
            .values_list("body", flat=True)
        )
        assert bodies == ["before the restart", "while you were away", "typed while offline"]
        texts = pat.locator("#chat-list .chat-body").all_inner_texts()
        assert texts == bodies  # in order, each once


def test_refused_nul_message_shows_an_error_and_the_page_does_not_reconnect(
    program, clinician, patient, room_server, new_page, browser_login
):
    # Issue 24 item 8: a NUL closed the socket with 1011 and the page, resending the
    # unsent message on every reconnect, looped "Reconnecting…" many times a minute.
    from apps.rooms.models import Message

    session = make_session(program, [clinician], [patient])
    pat = new_page()
    sockets: list[str] = []
    pat.on("websocket", lambda ws: sockets.append(ws.url) if "/ws/rooms/" in ws.url else None)
    browser_login(pat, room_server, patient.email, PASSWORD)
    pat.goto(f"{room_server}/rooms/{session.pk}/")
    expect(pat.locator("#conn-state")).to_have_text("Connected")
    pat.get_by_label("Your message").fill("bad")
    pat.evaluate("document.getElementById('composer-body').value += '\\u0000text'")
    pat.get_by_role("button", name="Send").click()
    expect(pat.locator("#composer-error")).to_contain_text("control character")
    expect(pat.get_by_label("Your message")).to_have_value("bad\x00text")  # given back to fix
    expect(pat.locator("#chat-list .pending")).to_have_count(0)
    # Time passing is what is tested (no reconnect loop), so there is nothing to wait for:
    # the old client had reconnected twice by now.
    pat.wait_for_timeout(4000)
    expect(pat.locator("#conn-state")).to_have_text("Connected")
    assert len(sockets) == 1
    assert not Message.objects.filter(body__contains="bad").exists()
    pat.get_by_label("Your message").fill("fixed text")
    pat.get_by_label("Your message").press("Enter")
    expect(pat.locator("#chat-list .chat-msg:not(.pending)")).to_contain_text("fixed text")


def test_a_dropped_broadcast_is_filled_in_and_every_message_shown_once_in_order(
    room_server, new_page, browser_login, artifacts_dir, program, clinician, patient, member2
):
    """Item 11: a message whose broadcast is lost. Pat's page sees the next message's seq
    skip one and asks for what it lacks; the last message of all, with nothing after it to
    show the gap, is found by the page's next ping (its pong carries the room's seq)."""
    from apps.core import events
    from apps.rooms import services
    from apps.rooms.models import Message

    session = make_session(program, [clinician], [patient, member2])
    room_url = f"{room_server}/rooms/{session.pk}/"
    pat = new_page()
    pat.clock.install()  # the page's timers: its 25-second ping is fast-forwarded below
    browser_login(pat, room_server, patient.email, PASSWORD)
    pat.goto(room_url)
    expect(pat.locator("#conn-state")).to_have_text("Connected")
    robin = new_page(phone=True)
    browser_login(robin, room_server, member2.email, PASSWORD)
    robin.goto(room_url)
    expect(robin.locator("#conn-state")).to_have_text("Connected")

    def facilitator_says(body: str, client_id: str) -> None:
        """Stored, and its broadcast dropped on purpose (this process's layer is not the
        server's anyway)."""
        from django.db import connection

        real = events.group_send_now
        events.group_send_now = lambda group, event: None
        try:
            services.room_connect(user=clinician, session_id=session.pk, channel_name="t-fac")
            services.room_message_post(
                author=clinician, session_id=session.pk, body=body, client_id=client_id
            )
        finally:
            events.group_send_now = real
            connection.close()

    # In another thread: Playwright's event loop runs in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(facilitator_says, "lost on the way", "f1").result()
    robin.get_by_label("Your message").fill("the next one")
    robin.get_by_label("Your message").press("Enter")
    for page in (pat, robin):
        expect(page.locator("#chat-list")).to_contain_text("lost on the way")
        expect(page.locator("#chat-list")).to_contain_text("the next one")

    with ThreadPoolExecutor(1) as pool:
        pool.submit(facilitator_says, "the last word", "f2").result()
    pat.clock.fast_forward("00:30")  # the ping is due: its pong tells of a newer seq
    expect(pat.locator("#chat-list")).to_contain_text("the last word")
    pat.screenshot(path=str(artifacts_dir / "rooms-gap-filled.png"), full_page=True)

    stored = list(
        Message.objects.filter(room__session=session).order_by("id").values_list("id", flat=True)
    )
    shown = [
        int(i)
        for i in pat.locator("#chat-list li").evaluate_all("els => els.map(e => e.dataset.id)")
    ]
    assert shown == stored  # every message, in order, each once
    bodies = pat.locator("#chat-list .chat-body").all_inner_texts()
    assert bodies == ["lost on the way", "the next one", "the last word"]


def test_with_redis_killed_pages_answer_and_the_room_says_live_updates_are_unavailable(
    new_page, browser_login, artifacts_dir, program, clinician, patient, member2, transactional_db
):
    """Item 11 against a real daphne whose cache and channel layer are a Redis of the test's
    own, killed mid-session: sign-in and pages still answer; a room page opened meanwhile
    says live updates are unavailable and keeps trying; a member who stayed connected posts,
    and once Redis is back the newcomer's page connects and shows that message."""
    from tests.redisserver import RedisServer

    redis = RedisServer()
    redis.start()
    session = make_session(program, [clinician], [patient, member2])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    room_url = f"{base}/rooms/{session.pk}/"
    try:
        with daphne(port, {**server_env(), "REDIS_URL": redis.url}):
            pat = new_page()
            browser_login(pat, base, patient.email, PASSWORD)
            pat.goto(room_url)
            expect(pat.locator("#conn-state")).to_have_text("Connected")

            redis.kill()
            robin = new_page(phone=True)
            browser_login(robin, base, member2.email, PASSWORD)
            expect(robin.get_by_role("heading", name=re.compile("Hello"))).to_be_visible()
            robin.goto(room_url)
            expect(robin.locator("#live-notice")).to_contain_text("Live updates are unavailable")
            expect(robin.locator("#conn-state")).to_have_text(re.compile("Reconnecting"))
            robin.screenshot(path=str(artifacts_dir / "rooms-redis-down-phone.png"), full_page=True)

            pat.get_by_label("Your message").fill("said while Redis was dead")
            pat.get_by_label("Your message").press("Enter")
            expect(pat.locator("#chat-list .chat-msg:not(.pending)")).to_contain_text(
                "said while Redis was dead"
            )

            redis.start()
            expect(robin.locator("#conn-state")).to_have_text("Connected", timeout=40_000)
            expect(robin.locator("#live-notice")).to_be_hidden()
            expect(robin.locator("#chat-list")).to_contain_text("said while Redis was dead")
    finally:
        redis.kill()


def test_the_badge_recovers_when_the_browser_comes_back_online_with_the_socket_alive(
    room_server, new_page, browser_login, program, clinician, patient
):
    session = make_session(program, [clinician], [patient])
    pat = new_page(phone=True)
    browser_login(pat, room_server, patient.email, PASSWORD)
    pat.goto(f"{room_server}/rooms/{session.pk}/")
    expect(pat.locator("#conn-state")).to_have_text("Connected")
    # A network blip the socket survives: the browser says offline, then online again.
    pat.evaluate("() => window.dispatchEvent(new Event('offline'))")
    expect(pat.locator("#conn-state")).to_have_text(re.compile("Offline"))
    pat.evaluate("() => window.dispatchEvent(new Event('online'))")
    expect(pat.locator("#conn-state")).to_have_text("Connected")
    pat.get_by_label("Your message").fill("still here")
    pat.get_by_label("Your message").press("Enter")
    expect(pat.locator("#chat-list .chat-msg:not(.pending)")).to_have_count(1)


def test_on_a_phone_the_composer_is_in_view_and_arrivals_fold_into_one_line(
    room_server, new_page, browser_login, program, clinician, patient, member2
):
    session = make_session(program, [clinician], [patient, member2])
    room_url = f"{room_server}/rooms/{session.pk}/"
    pat = new_page(phone=True)
    browser_login(pat, room_server, patient.email, PASSWORD)
    pat.goto(room_url)
    expect(pat.locator("#conn-state")).to_have_text("Connected")
    # At 360×740 the message box and Send are on screen without scrolling.
    expect(pat.get_by_label("Your message")).to_be_in_viewport()
    expect(pat.get_by_role("button", name="Send")).to_be_in_viewport()
    # Who is here waits behind its summary on a phone.
    expect(pat.locator("#people")).to_be_hidden()
    pat.locator("#people-card summary").click()
    expect(pat.locator("#people")).to_be_visible()

    robin = new_page()
    browser_login(robin, room_server, member2.email, PASSWORD)
    robin.goto(room_url)
    expect(robin.locator("#people")).to_be_visible()  # open on a wide screen
    fac = new_page()
    browser_login(fac, room_server, clinician.email, PASSWORD, TOTP_SECRET)
    fac.goto(room_url)
    # Arrivals within one minute share one line on Pat's page ("Robin, Carla joined").
    expect(pat.locator("#chat-list")).to_contain_text("Carla")
    lines = pat.eval_on_selector_all(
        "#chat-list .chat-system[data-event=joined]:not([hidden])",
        "els => els.map(e => [e.dataset.minute, e.textContent])",
    )
    minutes = [minute for minute, _text in lines]
    assert len(minutes) == len(set(minutes)), lines  # never two lines for one minute
    text = " ".join(t for _m, t in lines)
    assert "Robin" in text and "Carla" in text
    if len(lines) == 1:
        assert ", " in lines[0][1]
    pat.get_by_label("Your message").fill("hello")
    pat.get_by_role("button", name="Send").click()
    expect(robin.locator("#chat-list")).to_contain_text("hello")
