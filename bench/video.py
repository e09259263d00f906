"""Group video through Janus VideoRoom: the app's join against a bare Janus page, and Janus's
CPU per forwarded audio+video pair against published anchors.

1. Time to first remote frame. Five members already publish (Chromium pages with fake
   devices, 320x240, on bench/video_page/bare.html); a sixth, signed in beforehand, opens
   /rooms/<session id>/, picks "At home" and clicks "Join video" until the subscriber's
   getStats shows a decoded frame (inbound-rtp video framesDecoded > 0), and until frames from
   all five. The baseline is the same join on the bare page (no Django): a room created through
   Janus's HTTP API with a token signed by apps.video.tokens.janus_token, with the same room
   options, the same TURN servers and the same camera. App and bare joins alternate.
2. Janus CPU per forwarded pair. P publishers and S subscribers (each subscribing to every
   publisher) on the bare page; Janus's utime+stime over a window, divided by P x S pairs.

Janus and coturn run from the app's own renderer (apps/video/mediaserver.py) on free ports in a
temporary directory; daphne with the bench settings and MediaConfig.env(). Both use a
non-loopback address of this machine for media, as the video tests do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Result,
    Row,
    cpu_seconds,
    django_setup,
    percentile,
    require_services,
)
from tests.chromium import CHROMIUM
from tests.chromium import CHROMIUM_ARGS as BROWSER_ARGS

PROGRAM_SLUG = "bench-video"
PASSWORD = "bench-video-pass-12345"  # noqa: S105 - synthetic bench users
PUBLISHERS = 5
GOAL_RATIO = 1.5
GOAL_SECONDS = 2.0
JANUS_EARLIER_PCT = 0.5  # "Janus measured here earlier: about 0.5% of a core per pair"
MEDIASOUP_PCT_PER_CONSUMER = 0.2  # mediasoup: about 500 consumers per core
PAGE_DIR = Path(__file__).resolve().parent / "video_page"
VENDOR = ROOT / "static" / "vendor"
CHROMIUM_ARGS = [
    *BROWSER_ARGS,
    # Background pages must keep sending and decoding at full rate.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

# Installed in every joining page before its scripts: polls the subscriber's getStats every
# 20 ms and stamps (Date.now()) the first decoded remote frame and the first time every one of
# ``window.__benchExpect`` remote people has one.
WATCH_FRAMES = """(() => {
  window.__bench = { first: 0, all: 0 };
  const tick = async () => {
    const v = window.viopVideo;
    const pc = v && v.subscriber && v.subscriber();
    if (pc) {
      const mids = v.mids();
      const seen = new Set();
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video' && (r.framesDecoded || 0) > 0) {
          seen.add((mids[r.mid] && mids[r.mid].display) || r.mid);
        }
      });
      const now = Date.now();
      if (seen.size > 0 && !window.__bench.first) window.__bench.first = now;
      if (seen.size >= (window.__benchExpect || 1) && !window.__bench.all) window.__bench.all = now;
    }
    if (!window.__bench.all) setTimeout(tick, 20);
  };
  setTimeout(tick, 20);
})();"""

# Totals over a page's subscriber: remote video feeds with frames, packets and bytes received.
RECEIVED = """async () => {
  const v = window.viopVideo;
  const pc = v && v.subscriber();
  const out = { feeds: 0, packets: 0, bytes: 0 };
  if (!pc) return out;
  (await pc.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    out.packets += r.packetsReceived || 0;
    out.bytes += r.bytesReceived || 0;
    if (r.kind === 'video' && (r.framesDecoded || 0) > 0) out.feeds += 1;
  });
  return out;
}"""


# --- servers ---------------------------------------------------------------------------------
@dataclass
class Media:
    config: Any  # apps.video.mediaserver.MediaConfig
    janus_pid: int


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer: {log.read_text()[-1500:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def media_servers(folder: Path) -> Iterator[Media]:
    """Janus and coturn as the video tests start them (apps/video/mediaserver.running)."""
    from apps.video import mediaserver

    if not mediaserver.janus_binary() or not mediaserver.turnserver_binary():
        raise RuntimeError("janus and coturn are not installed (apt-get install janus coturn)")
    config = mediaserver.ephemeral_config(realm="virtualiop-bench")
    with mediaserver.running(config, folder) as janus_pid:
        yield Media(config, janus_pid)


@contextlib.contextmanager
def daphne(port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The tests' daphne (tests/rooms/servers.py), once it serves the login page."""
    from tests.rooms.servers import daphne as test_daphne

    with test_daphne(port, env, log=log) as proc:
        _wait_for(f"http://127.0.0.1:{port}/accounts/login/", proc, log, "daphne")
        yield proc


@contextlib.contextmanager
def static_server(folder: Path, log: Path) -> Iterator[str]:
    """The bare page and the vendored janus.js and adapter.js, from a temporary folder."""
    from apps.video.mediaserver import free_port

    shutil.copy(PAGE_DIR / "bare.html", folder / "bare.html")
    for name in ("adapter-8.2.0.js", "janus-1.1.2.js"):
        shutil.copy(VENDOR / name, folder / name)
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port)],
        cwd=folder,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/bare.html", proc, log, "http.server")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def _use_media_settings(config: Any) -> None:
    """Point this process's settings at our Janus and coturn (as the tests' video_on)."""
    from django.conf import settings

    env = config.env()
    settings.VIDEO_ENABLED = True
    settings.JANUS_HTTP_URL = env["JANUS_HTTP_URL"]
    settings.JANUS_WS_URL = env["JANUS_WS_URL"]
    settings.JANUS_TOKEN_SECRET = env["JANUS_TOKEN_SECRET"]
    settings.JANUS_ADMIN_KEY = env["JANUS_ADMIN_KEY"]
    settings.TURN_SECRET = env["TURN_SECRET"]
    settings.TURN_URLS = env["TURN_URLS"].split(",")


# --- data ------------------------------------------------------------------------------------
@dataclass
class AppRoom:
    session_id: int
    publishers: list[dict[str, Any]]  # video_join's credentials, one per publishing member
    joiners: list[str]  # emails of members who join through the pages


def prepare_app_room(joiners: int) -> AppRoom:
    """A group with a live session, PUBLISHERS + ``joiners`` members (auto-admitted), and the
    publishers' credentials from the app's own service (apps.video.services.video_join)."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from apps.accounts.models import PatientProfile, Role, User
    from apps.programs.models import Program, ProgramKind
    from apps.rooms.services import room_connect
    from apps.scheduling.models import Group, GroupMembership, Session
    from apps.video.selectors import session_target
    from apps.video.services import video_join

    now = timezone.now()
    today = now.date()
    run = secrets.token_hex(3)  # every run its own group, room and people
    with transaction.atomic():
        program, _ = Program.objects.get_or_create(
            slug=PROGRAM_SLUG,
            defaults={
                "name": "Bench Video IOP",
                "kind": ProgramKind.MENTAL_HEALTH,
                "clinic_phone": "(555) 010-0199",
                "states_served": ["CA"],
                "time_zone": "UTC",
            },
        )
        group = Group.objects.create(
            program=program,
            name=f"Video bench {run}",
            kind=Group._meta.get_field("kind").choices[0][0],  # type: ignore[index]
            track=Group._meta.get_field("track").choices[0][0],  # type: ignore[index]
            rrule="FREQ=DAILY",
            start_time=dt.time(0, 0),
            start_date=today - dt.timedelta(days=1),
            capacity=50,
            auto_admit_members=True,
        )
        password = make_password(PASSWORD)
        members = []
        for k in range(PUBLISHERS + joiners):
            user = User.objects.create(
                email=f"vp{run}-{k}@video.bench.test",
                full_name=f"Pat Video{k}",
                role=Role.PATIENT,
                password=password,
            )
            PatientProfile.objects.create(user=user, program=program)
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
            GroupMembership.objects.create(
                group=group, patient=user, from_date=today - dt.timedelta(days=1), status="active"
            )
            members.append(user)
        session, _ = Session.objects.update_or_create(
            group=group,
            occurrence_date=today,
            defaults={
                "starts_at": now - dt.timedelta(minutes=10),
                "ends_at": now + dt.timedelta(hours=3),
                "status": "scheduled",
            },
        )
    creds = []
    for k, user in enumerate(members[:PUBLISHERS]):
        room_connect(user=user, session_id=session.pk, channel_name=f"bench-video-{run}-{k}")
        target = session_target(user=user, session_id=session.pk)
        assert target is not None
        answer = video_join(target=target, location="home")
        assert answer["status"] == "admitted", answer
        creds.append(answer)
    return AppRoom(session.pk, creds, [u.email for u in members[PUBLISHERS:]])


@dataclass
class BareRoom:
    room: int
    pin: str
    acls: list[str]


def create_bare_room(people: int) -> BareRoom:
    """A room with the app's options (apps.video.janus.room_create: Janus's HTTP API, a token
    signed by janus_token, the VideoRoom admin_key), and an ACL token for each person."""
    from apps.video import janus

    room = BareRoom(random.randrange(10**9, 2 * 10**9), secrets.token_urlsafe(12), [])
    room.acls = [secrets.token_urlsafe(16) for _ in range(people)]
    from django.conf import settings

    janus.room_create(
        room=room.room,
        pin=room.pin,
        secret=secrets.token_urlsafe(16),
        publishers=settings.VIDEO_MAX_PUBLISHERS,
        allowed=room.acls,
    )
    return room


def bare_params(config: Any, room: BareRoom, index: int, mode: str, **extra: Any) -> dict[str, Any]:
    """What the bare page needs: a Janus token, TURN credentials, the room and an ACL token."""
    from apps.video import tokens

    expires = tokens.now() + 3600
    display = f"b{secrets.token_hex(6)}"
    username, credential = tokens.turn_credentials(
        secret=config.turn_secret, opaque_id=display, expires_at=expires
    )
    return {
        "server": config.ws_url,
        "token": tokens.janus_token(secret=config.token_secret, expires_at=expires),
        "room": room.room,
        "pin": room.pin,
        "feed": random.randrange(10**9, 2 * 10**9),
        "display": display,
        "acl": room.acls[index],
        "ice": [{"urls": config.turn_urls, "username": username, "credential": credential}],
        "mode": mode,
        **extra,
    }


def app_publisher_params(creds: dict[str, Any]) -> dict[str, Any]:
    keys = ("server", "token", "room", "pin", "feed", "display", "acl")
    return {
        **{k: creds[k] for k in keys},
        "ice": creds["ice_servers"],
        "mode": "publish",
        "width": 320,
        "height": 240,
    }


def page_url(base: str, params: dict[str, Any]) -> str:
    return f"{base}/bare.html#{urllib.parse.quote(json.dumps(params))}"


# --- browser ---------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Playwright's driver and Chromium's processes)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def tree_cpu(pid: int) -> float:
    total = 0.0
    for child in descendants(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += cpu_seconds(child)
    return total


def _new_page(browser: Any, *, watch: bool = False) -> Any:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(30_000)
    if watch:
        context.add_init_script(f"window.__benchExpect = {PUBLISHERS};\n{WATCH_FRAMES}")
    return context.new_page()


def _wait_published(pages: list[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for page in pages:
        while True:
            state = page.evaluate(
                "() => { const p = window.viopVideo.publisher(); return {s: "
                "window.viopVideo.state(), ice: p ? p.iceConnectionState : ''}; }"
            )
            if state["s"].get("error"):
                raise RuntimeError(f"publisher failed: {state['s']['error']}")
            if state["ice"] in ("connected", "completed"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"publisher did not connect: {state}")
            page.wait_for_timeout(100)
    time.sleep(2)  # the first keyframes are out; a joiner's subscription is steady-state


def _stamps(page: Any, timeout: float = 30) -> tuple[float, float]:
    page.wait_for_function("() => window.__bench && window.__bench.all > 0", timeout=timeout * 1000)
    stamps = page.evaluate("() => window.__bench")
    return float(stamps["first"]), float(stamps["all"])


def _login(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign In").click()
    page.wait_for_load_state()


@dataclass
class Join:
    open_first: float  # seconds from opening the page to the first decoded remote frame
    open_all: float  # ... to frames from every publisher
    click_first: float  # from the click on "Join video"
    click_all: float


def app_join(browser: Any, base: str, session_id: int, email: str) -> Join:
    page = _new_page(browser, watch=True)
    try:
        _login(page, base, email)
        t0 = time.time() * 1000
        page.goto(f"{base}/rooms/{session_id}/")
        page.locator("#conn-state").filter(has_text="Connected").wait_for()
        page.wait_for_function("() => !!document.getElementById('preview').srcObject")
        page.get_by_label("At home").check()
        t1 = time.time() * 1000
        page.get_by_role("button", name="Join video").click()
        first, every = _stamps(page)
        return Join((first - t0) / 1e3, (every - t0) / 1e3, (first - t1) / 1e3, (every - t1) / 1e3)
    finally:
        page.context.close()


def bare_join(browser: Any, static: str, params: dict[str, Any]) -> Join:
    page = _new_page(browser, watch=True)
    try:
        t0 = time.time() * 1000
        page.goto(page_url(static, params))
        page.wait_for_function("() => window.viopVideo.state().ready")
        t1 = time.time() * 1000
        page.get_by_role("button", name="Join video").click()
        first, every = _stamps(page)
        return Join((first - t0) / 1e3, (every - t0) / 1e3, (first - t1) / 1e3, (every - t1) / 1e3)
    finally:
        page.context.close()


# --- the two figures -------------------------------------------------------------------------
def _join_rows(app: list[Join], bare: list[Join]) -> list[Row]:
    rows = []
    for label, attr in (
        ("first remote frame, page opened", "open_first"),
        (f"frames from all {PUBLISHERS}, page opened", "open_all"),
        ("first remote frame, after the click", "click_first"),
    ):
        for pct in (50, 90):
            measured = percentile([getattr(j, attr) for j in app], pct)
            baseline = percentile([getattr(j, attr) for j in bare], pct)
            ok = measured <= GOAL_RATIO * baseline and measured <= GOAL_SECONDS
            rows.append(
                Row(
                    f"{label}, {'median' if pct == 50 else 'p90'}",
                    measured,
                    baseline,
                    "s",
                    goal=f"<= {GOAL_RATIO}x and <= {GOAL_SECONDS:.0f} s",
                    ok=ok,
                )
            )
    return rows


def measure_joins(
    browser: Any, base: str, static: str, media: Media, app_room: AppRoom, joins: int
) -> tuple[list[Join], list[Join]]:
    """``joins`` joins of each kind in blocks app, bare, bare, app (drift cancels out). Only
    one room's five publishers run at a time: two rooms' ten pages saturated the two cores of
    the first machine and every join took seconds longer."""
    bare_room = create_bare_room(PUBLISHERS + joins)
    app: list[Join] = []
    bare: list[Join] = []
    first = (joins + 1) // 2
    blocks = [("app", first), ("bare", first), ("bare", joins - first), ("app", joins - first)]
    for kind, count in blocks:
        if not count:
            continue
        if kind == "app":
            params = [app_publisher_params(creds) for creds in app_room.publishers]
        else:
            params = [
                bare_params(media.config, bare_room, k, "publish", width=320, height=240)
                for k in range(PUBLISHERS)
            ]
        publishers = [_new_page(browser) for _ in params]
        try:
            for page, one in zip(publishers, params, strict=True):
                page.goto(page_url(static, one))
            _wait_published(publishers)
            for _ in range(count):
                if kind == "app":
                    email = app_room.joiners[len(app)]
                    app.append(app_join(browser, base, app_room.session_id, email))
                else:
                    one = bare_params(media.config, bare_room, PUBLISHERS + len(bare), "join")
                    bare.append(bare_join(browser, static, one))
                time.sleep(1)  # the joiner's Janus session goes with its socket
        finally:
            for page in publishers:
                with contextlib.suppress(Exception):
                    page.context.close()
            time.sleep(1)  # the publishers' feeds leave before the same feed ids come back
    return app, bare


@dataclass
class Load:
    publishers: int
    subscribers: int
    janus_pct: float  # % of one core over the window
    janus_ingest_pct: float  # the same publishers before anyone subscribed
    clients_pct: float  # Playwright + Chromium, % of one core
    packets_per_pair: float  # RTP packets per second per audio+video pair, as received
    kbits_per_pair: float

    @property
    def pairs(self) -> int:
        return self.publishers * self.subscribers


def measure_cpu(browser: Any, static: str, media: Media, p: int, s: int, window: float) -> Load:
    room = create_bare_room(p + s)
    pages = []
    try:
        for k in range(p):
            pages.append(_new_page(browser))
            params = bare_params(media.config, room, k, "publish", width=320, height=240)
            pages[-1].goto(page_url(static, params))
        _wait_published(pages)
        ingest0, i0 = cpu_seconds(media.janus_pid), time.time()
        time.sleep(window)
        ingest = 100 * (cpu_seconds(media.janus_pid) - ingest0) / (time.time() - i0)
        watchers = []
        for k in range(s):
            watchers.append(_new_page(browser))
            watchers[-1].goto(page_url(static, bare_params(media.config, room, p + k, "watch")))
        pages += watchers
        deadline = time.monotonic() + 60
        for page in watchers:
            while page.evaluate(RECEIVED)["feeds"] < p:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"watchers did not get frames from {p} publishers")
                page.wait_for_timeout(200)
        time.sleep(3)  # past the first keyframes and bandwidth ramp
        received0 = [page.evaluate(RECEIVED) for page in watchers]
        janus0, clients0, t0 = cpu_seconds(media.janus_pid), tree_cpu(os.getpid()), time.time()
        time.sleep(window)
        janus1, clients1, t1 = cpu_seconds(media.janus_pid), tree_cpu(os.getpid()), time.time()
        received1 = [page.evaluate(RECEIVED) for page in watchers]
        elapsed = t1 - t0
        packets = sum(
            b["packets"] - a["packets"] for a, b in zip(received0, received1, strict=True)
        )
        octets = sum(b["bytes"] - a["bytes"] for a, b in zip(received0, received1, strict=True))
        return Load(
            p,
            s,
            100 * (janus1 - janus0) / elapsed,
            ingest,
            100 * (clients1 - clients0) / elapsed,
            packets / elapsed / (p * s),
            8 * octets / elapsed / (p * s) / 1000,
        )
    finally:
        for page in pages:
            with contextlib.suppress(Exception):
                page.context.close()


def _cpu_rows(loads: list[Load]) -> list[Row]:
    rows = []
    for load in loads:
        per_pair = load.janus_pct / load.pairs
        rows.append(
            Row(
                f"Janus CPU per forwarded A+V pair, P={load.publishers} S={load.subscribers}",
                per_pair,
                JANUS_EARLIER_PCT,
                "% core",
                goal=f"<= {JANUS_EARLIER_PCT}% (Janus measured here earlier)",
                ok=per_pair <= JANUS_EARLIER_PCT,
                note=(
                    f"{load.pairs} pairs, Janus {load.janus_pct:.1f}% of a core, "
                    f"{load.packets_per_pair:.0f} pkt/s and {load.kbits_per_pair:.0f} kbit/s "
                    f"per pair; clients {load.clients_pct:.0f}% of a core"
                    + (
                        "; CONTENDED: the clients took most of the machine, Janus got "
                        "less media and less CPU"
                        if load.clients_pct > 60 * (os.cpu_count() or 1)
                        else ""
                    )
                ),
            )
        )
        marginal = (load.janus_pct - load.janus_ingest_pct) / load.pairs
        rows.append(
            Row(
                f"same, less Janus's CPU with the {load.publishers} publishers alone",
                marginal,
                JANUS_EARLIER_PCT,
                "% core",
                goal=f"<= {JANUS_EARLIER_PCT}%",
                ok=marginal <= JANUS_EARLIER_PCT,
                note=f"publishers alone: {load.janus_ingest_pct:.1f}% of a core",
            )
        )
    rows.append(
        Row(
            "reference: mediasoup, ~500 consumers per core (per consumer; a pair is 2)",
            None,
            MEDIASOUP_PCT_PER_CONSUMER,
            "% core",
        )
    )
    rows.append(
        Row(
            "reference: Janus measured here earlier, per pair",
            None,
            JANUS_EARLIER_PCT,
            "% core",
        )
    )
    return rows


def run(
    *, joins: int = 5, sizes: tuple[tuple[int, int], ...] = ((5, 5),), window: float = 20
) -> Result:
    result = Result(
        "video",
        "Video: time to first remote frame (app vs bare Janus page) and Janus CPU per pair",
    )
    if not Path(CHROMIUM).exists():
        result.skipped = f"Chromium not found at {CHROMIUM}"
        return result
    env = require_services()
    django_setup()
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from apps.video.mediaserver import free_port

    with (
        tempfile.TemporaryDirectory(prefix="viop-bench-video-") as tmp,
        media_servers(Path(tmp)) as media,
    ):
        folder = Path(tmp)
        _use_media_settings(media.config)
        port = free_port()
        app_env = {
            **env,
            **media.config.env(),
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SECRET_KEY": str(settings.SECRET_KEY),
        }
        app_env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        static_dir = folder / "static"
        static_dir.mkdir()
        with (
            daphne(port, app_env, folder / "daphne.log"),
            static_server(static_dir, folder / "http.log") as static,
        ):
            base = f"http://127.0.0.1:{port}"
            # All ORM work happens before Playwright's event loop runs in this thread.
            app_room = prepare_app_room(joins)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    app, bare = measure_joins(browser, base, static, media, app_room, joins)
                    result.rows += _join_rows(app, bare)
                    loads = []
                    for p, s in sizes:
                        try:
                            loads.append(measure_cpu(browser, static, media, p, s, window))
                        except Exception as exc:  # noqa: BLE001 - report the sizes that ran
                            result.notes.append(f"P={p} S={s} not measured: {exc}"[:300])
                    result.rows += _cpu_rows(loads)
                finally:
                    browser.close()
        result.notes += [
            f"joins: {joins} app and {joins} bare, alternating, each in a fresh browser context "
            f"(app members signed in through the login form first, untimed); {PUBLISHERS} "
            "publishers per room on the bare page (fake camera 320x240 + microphone, VP8/Opus, "
            "one Chromium, one room's publishers at a time); joiners publish their own fake "
            "camera too",
            "app: /rooms/<id>/ until the chat socket says Connected and the preview runs, "
            "'At home', 'Join video'; bare: bench/video_page/bare.html until the preview runs, "
            "'Join video'. Same Janus, coturn, TURN servers and room options",
            "CPU: Janus utime+stime from /proc over "
            f"{window:.0f} s, divided by P x S audio+video pairs; load clients are Chromium "
            "pages (bare page: P publishers, S receive-only subscribers to all P), their CPU "
            "(Playwright + Chromium) given beside it; everything shares this machine's "
            f"{os.cpu_count()} cores",
        ]
    return result


if __name__ == "__main__":
    require_services()
    print(run(joins=2, sizes=((3, 3),), window=5))
