"""Helpers of the lifecycle tests: the real docker CLI against a minked, and polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import Daemon
from tests.support.cli import DOCKER, docker

__all__ = ["DOCKER", "docker", "inspect", "wait_for"]

DEADLINE = 30.0  # s a polled condition may take on a loaded 2-core machine


def inspect(daemon: Daemon, name: str) -> dict[str, Any]:
    return json.loads(docker(daemon, "inspect", name).stdout)[0]


def wait_for(what: str, condition: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what``."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
