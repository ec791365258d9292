from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakedaemon import FakeDaemon  # noqa: E402


@pytest.fixture
def daemon() -> Iterator[FakeDaemon]:
    with FakeDaemon() as d:
        yield d
