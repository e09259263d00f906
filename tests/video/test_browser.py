"""Three browsers, one real Janus and coturn, the app's own pages: media must flow, and the
facilitator's mute, remove and end must reach every page. Then a 1:1 visit, and TURN only."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.scheduling.models import Appointment
from tests import waiting
from tests.factories import PASSWORD, TOTP_SECRET
from tests.rooms.factories import make_session
from tests.rooms.servers import daphne, free_port, server_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Per remote person (by their opaque display): video frames decoded and audio packets.
MEDIA_BY_FEED = """async () => {
  const v = window.viopVideo;
  const pc = v && v.subscriber();
  if (!pc) return {};
  const mids = v.mids();
  const out = {};
  (await pc.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp' || !mids[r.mid]) return;
    const who = mids[r.mid].display;
    out[who] = out[who] || { frames: 0, packets: 0 };
    if (r.kind === 'video') out[who].frames += r.framesDecoded || 0;
    else out[who].packets += r.packetsReceived || 0;
  });
  return out;
}"""

# The local candidate type of the selected pair of every peer connection of the page.
SELECTED_CANDIDATES = """async () => {
  const types = [];
  for (const pc of window.viopVideo.peerConnections()) {
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) {
        const pair = stats.get(r.selectedCandidatePairId);
        types.push(stats.get(pair.localCandidateId).candidateType);
      }
    });
  }
  return types;
}"""


def wait_until(page, check, *, timeout: float = 30, what: str = "condition"):
    """Poll ``check(page)`` until it returns something truthy (getStats is async, which
    Playwright's wait_for_function does not await)."""
    return waiting.wait_until(
        lambda: check(page), timeout=timeout, interval=0.25, what=what, page=page
    )


SCREEN_FRAMES = """() => {
  const v = document.querySelector('#gallery .tile-screen video');
  return v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""


def media_flowing(page, peers: int) -> dict:
    """Wait until every one of ``peers`` remote people sends decoded video and audio."""

    def check(p):
        media = p.evaluate(MEDIA_BY_FEED)
        ok = len(media) == peers and all(
            m["frames"] > 0 and m["packets"] > 0 for m in media.values()
        )
        return media if ok else None

    return wait_until(page, check, what=f"media from {peers} people")


def audio_stopped_from(page, display: str) -> None:
    """Wait until no new audio packets arrive from ``display`` over two seconds."""
    seen: list[tuple[float, int]] = []

    def check(p):
        packets = p.evaluate(MEDIA_BY_FEED).get(display, {}).get("packets", 0)
        now = time.monotonic()
        seen.append((now, packets))
        old = [n for t, n in seen if now - t >= 2]
        return bool(old) and old[-1] == packets

    wait_until(page, check, timeout=20, what="the muted microphone to stop")


def audio_flowing_from(page, display: str) -> None:
    start = page.evaluate(MEDIA_BY_FEED).get(display, {}).get("packets", 0)
    wait_until(
        page,
        lambda p: p.evaluate(MEDIA_BY_FEED).get(display, {}).get("packets", 0) > start + 20,
        what="audio to flow",
    )


def display_of(page) -> str:
    return page.evaluate("() => window.viopVideo.display()")


@pytest.fixture
def video_server(transactional_db, media_servers):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**server_env(), **media_servers.env(), "SITE_URL": base}
    with daphne(port, env):
        yield base


@pytest.fixture
def relay_server(transactional_db, media_servers):
    port = free_port()
    env = {**server_env(), **media_servers.env(), "VIDEO_FORCE_RELAY": "1"}
    with daphne(port, env):
        yield f"http://127.0.0.1:{port}"


def join_video(page, *, patient: bool) -> None:
    if patient:
        page.get_by_label("At home").check()
    page.get_by_role("button", name="Join video").click()


def test_a_facilitator_and_two_members_see_and_hear_each_other(
    video_server, new_page, browser_login, artifacts_dir, program, clinician, patient, member2
):
    session = make_session(program, [clinician], [patient, member2])
    room_url = f"{video_server}/rooms/{session.pk}/"
    fac, pat, robin = new_page(), new_page(), new_page(phone=True)
    browser_login(fac, video_server, clinician.email, PASSWORD, TOTP_SECRET)
    browser_login(pat, video_server, patient.email, PASSWORD)
    browser_login(robin, video_server, member2.email, PASSWORD)
    for page in (fac, pat, robin):
        page.goto(room_url)
        expect(page.locator("#conn-state")).to_have_text("Connected")
        # The green room: a preview and a live microphone level before joining.
        expect(page.get_by_label("Microphone", exact=True)).to_be_visible()
        page.wait_for_function("() => document.getElementById('mic-level').value > 0")
    join_video(fac, patient=False)
    join_video(pat, patient=True)
    join_video(robin, patient=True)

    for page in (fac, pat, robin):
        media_flowing(page, peers=2)
        expect(page.locator("#gallery .tile")).to_have_count(3)
    # Names come from Django, not Janus; the facilitator sees where each patient is.
    expect(robin.locator("#gallery")).to_contain_text("Pat")
    expect(fac.locator("#gallery")).to_contain_text("At home")
    expect(fac.locator("#gallery")).to_contain_text("POS 10")
    expect(robin.locator("#gallery")).not_to_contain_text("At home")
    robin.screenshot(path=str(artifacts_dir / "video-group-phone.png"), full_page=True)
    fac.screenshot(path=str(artifacts_dir / "video-group-facilitator.png"), full_page=True)

    # Members may share their screen only once the facilitator allows it.
    expect(pat.get_by_role("button", name="Share screen")).to_be_hidden()
    fac.get_by_label("Members may share their screen").check()
    expect(pat.get_by_role("button", name="Share screen")).to_be_visible()

    # Mute Pat's microphone: Janus stops forwarding it, and Pat cannot unmute.
    pat_display = display_of(pat)
    audio_flowing_from(robin, pat_display)
    fac.locator("#gallery").get_by_role("button", name="Mute Pat's microphone").click()
    audio_stopped_from(robin, pat_display)
    expect(pat.locator("#video-notice")).to_contain_text("muted your microphone")
    expect(pat.get_by_role("button", name="Unmute")).to_be_disabled()
    expect(fac.locator("#gallery").get_by_role("button", name="Let Pat unmute")).to_be_visible()

    # Remove Robin: Robin's video ends, and a new token is refused.
    fac.once("dialog", lambda d: d.accept())
    fac.locator("#gallery").get_by_role("button", name="Remove Robin").click()
    expect(robin.locator("#video-left")).to_contain_text("removed")
    assert robin.evaluate("() => window.viopVideo.peerConnections().length") == 0
    status = robin.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', headers: {'X-CSRFToken':
            document.cookie.match(/csrftoken=([^;]+)/)[1]}, body: new URLSearchParams(
            {location: 'home'})})).status""",
        f"/video/session/{session.pk}/join/",
    )
    assert status == 403
    expect(pat.locator("#gallery .tile")).to_have_count(2)

    # End the session: every page leaves the video.
    fac.get_by_role("button", name="End the session for everyone").click()
    fac.get_by_role("button", name="End session").click()
    for page in (fac, pat):
        expect(page.locator("#video-left")).to_contain_text("ended")
        assert page.evaluate("() => window.viopVideo.peerConnections().length") == 0


def test_a_clinician_admits_a_patient_to_a_one_to_one_visit(
    video_server, new_page, browser_login, artifacts_dir, program, clinician, patient
):
    now = timezone.now()
    visit = Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="individual",
        starts_at=now,
        ends_at=now + dt.timedelta(minutes=50),
    )
    doc, pat = new_page(), new_page(phone=True)
    browser_login(doc, video_server, clinician.email, PASSWORD, TOTP_SECRET)
    browser_login(pat, video_server, patient.email, PASSWORD)
    pat.goto(f"{video_server}/video/visit/{visit.pk}/")
    pat.get_by_label("Somewhere else").check()
    pat.get_by_label("City and state").fill("Reno, NV")
    pat.get_by_role("button", name="Join video").click()
    expect(pat.locator("#video-waiting")).to_be_visible()

    doc.goto(f"{video_server}/video/visit/{visit.pk}/")
    doc.get_by_role("button", name="Join video").click()
    lobby = doc.locator("#video-lobby")
    expect(lobby).to_contain_text("Pat")
    expect(lobby).to_contain_text("Reno, NV")
    lobby.get_by_role("button", name="Let in").click()
    for page in (doc, pat):
        media_flowing(page, peers=1)
    expect(doc.locator("#gallery")).to_contain_text("POS 02")

    # The clinician shares a screen (psychoeducation slides): the patient sees a second,
    # wide tile with frames decoded.
    doc.get_by_role("button", name="Share screen").click()
    expect(pat.locator("#gallery .tile-screen video")).to_have_count(1)
    wait_until(
        pat,
        lambda p: p.evaluate(SCREEN_FRAMES) > 0,
        what="frames of the shared screen",
    )
    expect(doc.get_by_role("button", name="Stop sharing")).to_be_visible()
    pat.screenshot(path=str(artifacts_dir / "video-visit-phone.png"), full_page=True)
    doc.get_by_role("button", name="Stop sharing").click()
    expect(pat.locator("#gallery .tile-screen")).to_have_count(0)
    before = media_flowing(pat, peers=1)
    wait_until(  # the camera still flows after the screen stopped
        pat,
        lambda p: all(
            m["frames"] > before[d]["frames"] for d, m in p.evaluate(MEDIA_BY_FEED).items()
        ),
        what="camera frames after sharing",
    )

    doc.once("dialog", lambda d: d.accept())
    doc.get_by_role("button", name="End the visit for everyone").click()
    expect(pat.locator("#video-left")).to_contain_text(re.compile("ended"))


def test_media_flows_through_turn_alone(
    relay_server, new_page, browser_login, program, clinician, patient
):
    session = make_session(program, [clinician], [patient])
    fac, pat = new_page(), new_page()
    browser_login(fac, relay_server, clinician.email, PASSWORD, TOTP_SECRET)
    browser_login(pat, relay_server, patient.email, PASSWORD)
    for page, is_patient in ((fac, False), (pat, True)):
        page.goto(f"{relay_server}/rooms/{session.pk}/")
        expect(page.locator("#conn-state")).to_have_text("Connected")
        join_video(page, patient=is_patient)
    for page in (fac, pat):
        media_flowing(page, peers=1)

        # Both connections (publishing, subscribing) settle on a pair; every one is relayed.
        def settled(p):
            types = p.evaluate(SELECTED_CANDIDATES)
            return types if len(types) == 2 else None

        types = wait_until(page, settled, what="two connected peer connections")
        assert set(types) == {"relay"}, types


def test_an_interpreter_joins_a_visit_by_a_one_time_link(
    video_server, new_page, browser_login, program, clinician, patient
):
    now = timezone.now()
    visit = Appointment.objects.create(
        program=program,
        clinician=clinician,
        patient=patient,
        kind="family",
        starts_at=now,
        ends_at=now + dt.timedelta(minutes=50),
    )
    doc = new_page()
    browser_login(doc, video_server, clinician.email, PASSWORD, TOTP_SECRET)
    doc.goto(f"{video_server}/video/visit/{visit.pk}/")
    doc.get_by_label("Their first name").fill("Ana")
    doc.get_by_label("They join as").select_option("interpreter")
    doc.get_by_label("The patient agreed").check()
    doc.get_by_role("button", name="Create a one-time link").click()
    link = doc.get_by_label("Invitation link").input_value()
    doc.get_by_role("button", name="Join video").click()

    guest = new_page(phone=True)  # no account, no sign-in
    guest.goto(link)
    expect(guest.get_by_role("heading", name="Welcome, Ana")).to_be_visible()
    guest.get_by_role("button", name="Join video").click()
    expect(guest.locator("#video-waiting")).to_be_visible()
    lobby = doc.locator("#video-lobby")
    expect(lobby).to_contain_text("Ana (Interpreter)")
    lobby.get_by_role("button", name="Let in").click()
    for page in (doc, guest):
        media_flowing(page, peers=1)
    expect(doc.locator("#gallery")).to_contain_text("Ana (Interpreter)")
