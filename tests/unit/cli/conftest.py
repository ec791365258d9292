from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The fake daemon lives with the client tests; the CLI tests drive the same server.
sys.path.insert(0, str(Path(__file__).parents[1] / "client"))

from fakedaemon import FakeDaemon  # noqa: E402


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    with FakeDaemon() as d:
        monkeypatch.setenv("MINKE_HOST", d.host)
        yield d
