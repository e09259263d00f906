#!/usr/bin/env python3
"""Bring video up for `make run`: Janus and coturn from Debian, configured into var/video.

Installs the Debian packages when it may (root, or passwordless sudo), saying so; otherwise
prints the one command that would, and leaves video off (rooms say so plainly; chat works).
Secrets are made once (var/video/secrets.json) so restarts keep them. Writes var/video.env,
which honcho passes to every process, and var/video/enabled for deploy/media.sh.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.video import mediaserver  # noqa: E402  (a plain module: no Django needed)

VAR = ROOT / "var" / "video"
ENV_FILE = ROOT / "var" / "video.env"
PORTS = {"http_port": 8088, "ws_port": 8188, "turn_port": 3478}
INSTALL = "apt-get install -y " + " ".join(mediaserver.DEBIAN_PACKAGES)


def off(reason: str) -> int:
    VAR.mkdir(parents=True, exist_ok=True)
    (VAR / "enabled").unlink(missing_ok=True)
    (VAR / "off-reason").write_text(reason + "\n")
    ENV_FILE.write_text("VIDEO_ENABLED=0\n")
    print(f"  Video is off: {reason}")
    return 0


def may_install() -> list[str] | None:
    if os.geteuid() == 0:
        return []
    if (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    ):
        return ["sudo", "-n"]
    return None


def port_free(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> int:
    if os.environ.get("VIDEO", "on") == "off":
        return off("VIDEO=off was given")
    if not (mediaserver.janus_binary() and mediaserver.turnserver_binary()):
        prefix = may_install()
        if prefix is None or not shutil.which("apt-get"):
            return off(f"Janus and coturn are not installed. To get video, run: sudo {INSTALL}")
        print(f"  Installing Janus and coturn for video: {' '.join(prefix)} {INSTALL}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run([*prefix, *INSTALL.split()], env=env, capture_output=True)
        if done.returncode != 0 or not mediaserver.janus_binary():
            return off(f"installing them failed; run: sudo {INSTALL}")
    addresses = mediaserver.host_addresses()
    if not addresses:
        return off("this machine has no network interface but loopback for media")
    taken = [str(p) for p in PORTS.values() if not port_free(p)]
    if not port_free(PORTS["turn_port"], socket.SOCK_DGRAM):
        taken.append(f"{PORTS['turn_port']}/udp")
    if taken:
        return off(f"port(s) {', '.join(taken)} already in use (another make run?)")
    VAR.mkdir(parents=True, exist_ok=True)
    secrets = mediaserver.secrets_kept(VAR / "secrets.json")
    config = mediaserver.MediaConfig(
        media_ip=addresses[0][1],
        token_secret=secrets["token_secret"],
        admin_key=secrets["admin_key"],
        turn_secret=secrets["turn_secret"],
        **PORTS,
    )
    mediaserver.render_janus(config, VAR / "janus")
    mediaserver.render_coturn(config, VAR / "turnserver.conf")
    ENV_FILE.write_text("".join(f"{k}={v}\n" for k, v in config.env().items()))
    ENV_FILE.chmod(0o600)
    (VAR / "enabled").touch()
    (VAR / "off-reason").unlink(missing_ok=True)
    print(f"  Video is on: Janus and coturn on {addresses[0][0]} ({config.media_ip})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
