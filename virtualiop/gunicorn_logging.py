"""gunicorn's access log with paths as ``apps.core.logs.loggable_path`` gives them: no query
string, and no password-reset, confirmation, calendar-feed or unsubscribe token.

    gunicorn --logger-class virtualiop.gunicorn_logging.AccessLogger ...
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from apps.core.logs import loggable_path


class AccessLogger(Logger):  # type: ignore[misc]
    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        path = loggable_path(atoms.get("U") or "")
        atoms["U"] = path
        atoms["q"] = ""
        method, _, rest = str(atoms.get("r") or "").partition(" ")
        protocol = rest.rsplit(" ", 1)[-1] if " " in rest else ""
        atoms["r"] = f"{method} {path} {protocol}".strip()
        atoms["{raw_uri}e"] = path
        return atoms
