"""Janus and coturn configuration, rendered from deploy/janus and deploy/coturn templates.

One renderer for every place a media server runs: `make run` (var/video), the tests (a
temporary directory, free ports) and production (`manage.py video_config`)."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "deploy"
JANUS_LIBS = Path("/usr/lib/x86_64-linux-gnu/janus")
JANUS_FILES = (
    "janus.jcfg",
    "janus.plugin.videoroom.jcfg",
    "janus.transport.http.jcfg",
    "janus.transport.websockets.jcfg",
)
# What `make run` installs when it may, and what it tells the newcomer to run when it may not.
DEBIAN_PACKAGES = ("janus", "coturn", "libjs-janus-gateway", "libjs-webrtc-adapter")


def janus_binary() -> str | None:
    return shutil.which("janus") or ("/usr/bin/janus" if Path("/usr/bin/janus").exists() else None)


def turnserver_binary() -> str | None:
    return shutil.which("turnserver") or (
        "/usr/bin/turnserver" if Path("/usr/bin/turnserver").exists() else None
    )


def janus_libs() -> Path:
    """Debian's multiarch folder of Janus plugins and transports, wherever this machine has it."""
    # /opt/janus first: a Janus built from source is chosen over Debian's (README "Video").
    candidates = [Path("/opt/janus/lib/janus"), *sorted(Path("/usr/lib").glob("*/janus"))]
    for candidate in [*candidates, Path("/usr/lib/janus")]:
        if (candidate / "plugins").is_dir():
            return candidate
    return JANUS_LIBS


def host_addresses() -> list[tuple[str, str]]:
    """(interface, IPv4) pairs other than loopback: Janus gathers no candidates on `lo`."""
    found = []
    for _index, name in socket.if_nameindex():
        if name == "lo":
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address, or the interface is down
                continue
        address = socket.inet_ntoa(packed[20:24])
        if not ipaddress.ip_address(address).is_loopback:
            found.append((name, address))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class MediaConfig:
    """Everything both servers and Django must agree on."""

    token_secret: str
    admin_key: str
    turn_secret: str
    media_ip: str  # the address Janus offers candidates on and coturn relays from
    http_port: int = 8088
    ws_port: int = 8188
    turn_port: int = 3478
    rtp_port_range: str = "20000-40000"
    turn_min_port: int = 49152
    turn_max_port: int = 65535
    realm: str = "virtualiop"
    http_ip: str = "127.0.0.1"
    ws_ip: str = "127.0.0.1"
    public_ip: str = ""  # nat_1_1_mapping behind a NAT (cloud VM)
    turn_tls_port: int = 0
    turn_cert: str = ""
    turn_key: str = ""
    allow_loopback_peers: bool = False  # tests only: coturn relaying to a 127.x Janus
    debug_level: int = 3
    log_file: str = ""

    @classmethod
    def fresh(cls, **kwargs: object) -> MediaConfig:
        return cls(
            token_secret=secrets.token_urlsafe(32),
            admin_key=secrets.token_urlsafe(32),
            turn_secret=secrets.token_urlsafe(32),
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def http_url(self) -> str:
        return f"http://{self.http_ip}:{self.http_port}/janus"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ws_ip}:{self.ws_port}/"

    @property
    def turn_urls(self) -> list[str]:
        # Behind a 1:1 NAT browsers reach coturn at the public address, not media_ip.
        host = self.public_ip or self.media_ip
        urls = [
            f"turn:{host}:{self.turn_port}?transport=udp",
            f"turn:{host}:{self.turn_port}?transport=tcp",
        ]
        if self.turn_tls_port:
            urls.append(f"turns:{host}:{self.turn_tls_port}?transport=tcp")
        return urls

    def env(self) -> dict[str, str]:
        """The settings Django reads (virtualiop/settings.py, "Video")."""
        return {
            "VIDEO_ENABLED": "1",
            "JANUS_HTTP_URL": self.http_url,
            "JANUS_WS_URL": self.ws_url,
            "JANUS_TOKEN_SECRET": self.token_secret,
            "JANUS_ADMIN_KEY": self.admin_key,
            "TURN_SECRET": self.turn_secret,
            "TURN_URLS": ",".join(self.turn_urls),
        }


def _render(template: Path, values: dict[str, object]) -> str:
    return string.Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})


def render_janus(config: MediaConfig, folder: Path) -> Path:
    """Write the four Janus files into ``folder``; returns janus.jcfg's path."""
    folder.mkdir(parents=True, exist_ok=True)
    libs = janus_libs()
    values: dict[str, object] = {
        "configs_folder": folder,
        "plugins_folder": libs / "plugins",
        "transports_folder": libs / "transports",
        "events_folder": libs / "events",
        "loggers_folder": libs / "loggers",
        "debug_level": config.debug_level,
        "log_to_file": f'log_to_file = "{config.log_file}"' if config.log_file else "",
        "token_secret": config.token_secret,
        "admin_secret": secrets.token_urlsafe(24),
        "rtp_port_range": config.rtp_port_range,
        "stun": "",
        "ice_enforce_list": config.media_ip,
        "nat_1_1": f'nat_1_1_mapping = "{config.public_ip}"' if config.public_ip else "",
        "admin_key": config.admin_key,
        "http_port": config.http_port,
        "http_ip": config.http_ip,
        "ws_port": config.ws_port,
        "ws_ip": config.ws_ip,
    }
    for name in JANUS_FILES:
        path = folder / name
        path.write_text(_render(TEMPLATES / "janus" / f"{name}.in", values))
        path.chmod(0o600)
    return folder / "janus.jcfg"


def render_coturn(config: MediaConfig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tls = "no-tls\nno-dtls"
    if config.turn_tls_port and config.turn_cert:
        tls = (
            f"tls-listening-port={config.turn_tls_port}\ncert={config.turn_cert}\n"
            f"pkey={config.turn_key}\nno-tlsv1\nno-tlsv1_1\nno-dtls"
        )
    peer_rules = "\n".join(
        [
            # Private ranges are closed to relays (coturn's own advice), the media server open.
            *(
                f"denied-peer-ip={net}"
                for net in (
                    "0.0.0.0-0.255.255.255",
                    "10.0.0.0-10.255.255.255",
                    "100.64.0.0-100.127.255.255",
                    "169.254.0.0-169.254.255.255",
                    "172.16.0.0-172.31.255.255",
                    "192.168.0.0-192.168.255.255",
                )
            ),
            f"allowed-peer-ip={config.media_ip}",
        ]
    )
    values: dict[str, object] = {
        "port": config.turn_port,
        "listening_ips": f"listening-ip={config.media_ip}",
        "relay_ips": f"relay-ip={config.media_ip}",
        "tls": tls,
        "min_port": config.turn_min_port,
        "max_port": config.turn_max_port,
        "secret": config.turn_secret,
        "realm": config.realm,
        "peer_rules": peer_rules,
        "extra": "\n".join(
            [
                *(["allow-loopback-peers"] if config.allow_loopback_peers else []),
                # Behind a 1:1 NAT coturn hands out the public address in relayed candidates
                # (public/private), as Janus does with nat_1_1_mapping.
                *(
                    [f"external-ip={config.public_ip}/{config.media_ip}"]
                    if config.public_ip
                    else []
                ),
            ]
        ),
    }
    path.write_text(_render(TEMPLATES / "coturn" / "turnserver.conf.in", values))
    path.chmod(0o600)
    return path


def janus_command(jcfg: Path) -> list[str]:
    return [janus_binary() or "janus", "-C", str(jcfg), "-F", str(jcfg.parent)]


def turnserver_command(conf: Path) -> list[str]:
    return [turnserver_binary() or "turnserver", "-c", str(conf), "--pidfile", str(conf) + ".pid"]


def secrets_kept(path: Path) -> dict[str, str]:
    """The three secrets, made once into ``path`` (mode 600) and read back on later runs."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    fresh = MediaConfig.fresh(media_ip="")
    kept = {k: getattr(fresh, k) for k in ("token_secret", "admin_key", "turn_secret")}
    path.write_text(json.dumps(kept))
    path.chmod(0o600)
    return kept


def ephemeral_config(*, realm: str) -> MediaConfig:
    """Fresh secrets and free ports on this host's first interface (tests and benchmarks)."""
    addresses = host_addresses()
    if not addresses:
        raise RuntimeError("no non-loopback IPv4 interface for Janus's ICE candidates")
    low = secrets.SystemRandom().randrange(40000, 58000, 1000)
    return MediaConfig.fresh(
        media_ip=addresses[0][1],
        http_port=free_port(),
        ws_port=free_port(),
        turn_port=free_port(),
        rtp_port_range=f"{low}-{low + 499}",
        turn_min_port=low + 500,
        turn_max_port=low + 999,
        realm=realm,
    )


@contextlib.contextmanager
def running(config: MediaConfig, folder: Path) -> Iterator[int]:
    """Janus and coturn started with ``config`` in ``folder`` until the block ends; yields
    Janus's pid once its HTTP API answers."""
    jcfg = render_janus(config, folder / "janus")
    turn_conf = render_coturn(config, folder / "turnserver.conf")
    janus_log, turn_log = folder / "janus.log", folder / "turn.log"
    procs = [
        subprocess.Popen(
            janus_command(jcfg), stdout=janus_log.open("wb"), stderr=subprocess.STDOUT
        ),
        subprocess.Popen(
            turnserver_command(turn_conf), stdout=turn_log.open("wb"), stderr=subprocess.STDOUT
        ),
    ]
    try:
        deadline = time.monotonic() + 20
        while not _janus_answers(config):
            if procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"janus did not start: {janus_log.read_text()[-2000:]}")
            time.sleep(0.1)
        time.sleep(0.3)  # coturn binds within milliseconds; UDP has nothing to wait on
        if procs[1].poll() is not None:
            raise RuntimeError(f"turnserver exited: {turn_log.read_text()[-2000:]}")
        yield procs[0].pid
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _janus_answers(config: MediaConfig) -> bool:
    try:
        with urllib.request.urlopen(f"{config.http_url}/info", timeout=1) as r:  # noqa: S310
            return bool(json.loads(r.read()).get("janus") == "server_info")
    except OSError:
        return False
