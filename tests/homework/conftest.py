from __future__ import annotations

import pytest

from tests.homework.factories import shipped_modules


@pytest.fixture
def modules(db):
    return shipped_modules()
