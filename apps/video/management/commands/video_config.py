"""Render Janus's and coturn's production configuration from deploy/janus and deploy/coturn.

    manage.py video_config --out /etc/virtualiop/video --media-ip 203.0.113.10 \\
        [--public-ip 198.51.100.7] [--turn-tls-port 5349 --turn-cert … --turn-key …]

Secrets are created once in <out>/secrets.json (mode 600) and kept on later runs, so Django's
settings and both servers keep agreeing; the settings Django needs are printed."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.video import mediaserver


class Command(BaseCommand):
    help = "Render the Janus and coturn configuration for production."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--media-ip", required=True, help="the address Janus and coturn use")
        parser.add_argument("--public-ip", default="", help="the NAT's public address, if any")
        parser.add_argument("--site-host", default="", help="public host name (wss://HOST/janus/)")
        parser.add_argument("--turn-host", default="", help="host name browsers reach TURN at")
        parser.add_argument("--turn-tls-port", type=int, default=0)
        parser.add_argument("--turn-cert", default="")
        parser.add_argument("--turn-key", default="")
        parser.add_argument("--rtp-port-range", default="20000-40000")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ipaddress.ip_address(options["media_ip"])
            if options["public_ip"]:
                ipaddress.ip_address(options["public_ip"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["turn_tls_port"] and not (options["turn_cert"] and options["turn_key"]):
            raise CommandError("--turn-tls-port needs --turn-cert and --turn-key.")
        out: Path = options["out"]
        out.mkdir(parents=True, exist_ok=True)
        secrets = mediaserver.secrets_kept(out / "secrets.json")
        config = mediaserver.MediaConfig(
            media_ip=options["media_ip"],
            public_ip=options["public_ip"],
            turn_tls_port=options["turn_tls_port"],
            turn_cert=options["turn_cert"],
            turn_key=options["turn_key"],
            rtp_port_range=options["rtp_port_range"],
            debug_level=3,
            token_secret=secrets["token_secret"],
            admin_key=secrets["admin_key"],
            turn_secret=secrets["turn_secret"],
        )
        mediaserver.render_janus(config, out / "janus")
        mediaserver.render_coturn(config, out / "turnserver.conf")
        env = config.env()
        turn_host = options["turn_host"] or config.public_ip or config.media_ip
        urls = [f"turn:{turn_host}:{config.turn_port}?transport={t}" for t in ("udp", "tcp")]
        if config.turn_tls_port:
            urls.append(f"turns:{turn_host}:{config.turn_tls_port}")
        env["TURN_URLS"] = ",".join(urls)
        # Browsers reach Janus through nginx on this site: an empty JANUS_WS_URL means
        # wss://<site>/janus/; a separate media host names its own.
        env["JANUS_WS_URL"] = f"wss://{options['site_host']}/janus/" if options["site_host"] else ""
        for name in ("JANUS_TOKEN_SECRET", "JANUS_ADMIN_KEY", "TURN_SECRET"):
            env.pop(name)
        self.stdout.write(f"Rendered {out / 'janus'} and {out / 'turnserver.conf'}.")
        self.stdout.write("Django's environment (secrets by file, never inline):")
        for key, value in env.items():
            self.stdout.write(f"{key}={value}")
        for name in ("JANUS_TOKEN_SECRET", "JANUS_ADMIN_KEY", "TURN_SECRET"):
            self.stdout.write(f"{name}_FILE={out / name.lower()}")
        for name, key in (
            ("janus_token_secret", "token_secret"),
            ("janus_admin_key", "admin_key"),
            ("turn_secret", "turn_secret"),
        ):
            path = out / name
            path.write_text(secrets[key])
            path.chmod(0o600)
