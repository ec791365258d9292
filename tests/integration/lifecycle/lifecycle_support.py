"""Helpers of the lifecycle tests: the real docker CLI against a minked, and polling."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Daemon
from tests.support.cli import DOCKER, docker
from tests.support.polling import wait_for

__all__ = ["DOCKER", "docker", "inspect", "wait_for"]


def inspect(daemon: Daemon, name: str) -> dict[str, Any]:
    return json.loads(docker(daemon, "inspect", name).stdout)[0]
