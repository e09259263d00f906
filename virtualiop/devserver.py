"""``make run``'s server: daphne, whose access log leaves out query strings.

In development daphne serves the pages too, and a query string can carry what a user typed
(a caseload search is a patient's name); no PHI in logs. Production logs paths only as well
(gunicorn's ``%(U)s``, nginx's ``$uri``), and its daphne serves only ``/ws/``.

    python -m virtualiop.devserver -b 127.0.0.1 -p 8000 virtualiop.asgi:application
"""

from __future__ import annotations

import sys
from typing import Any

from daphne import cli
from daphne.access import AccessLogGenerator

from apps.core.logs import loggable_path


class PathOnlyAccessLog(AccessLogGenerator):  # type: ignore[misc]
    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        path = details.get("path")
        if isinstance(path, str):
            details = {**details, "path": loggable_path(path)}
        super().__call__(protocol, action, details)


def main() -> None:
    cli.AccessLogGenerator = PathOnlyAccessLog  # what CommandLineInterface.run builds
    sys.exit(cli.CommandLineInterface.entrypoint())


if __name__ == "__main__":
    main()
