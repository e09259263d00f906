"""Fixtures shared by the whole-site browser walks (``test_csp``, ``test_accessibility``)."""

from __future__ import annotations

import pytest

from tests.browser.world import build_world
from tests.rooms.servers import daphne, free_port, server_env


@pytest.fixture
def server(transactional_db):
    """The site under daphne (HTTP and the room's WebSockets), as ``make run`` serves it."""
    port = free_port()
    with daphne(port, server_env()):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def world(program, clinician, patient):
    return build_world(program, clinician, patient)
