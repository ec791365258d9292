"""Helpers of the lifecycle tests: the real docker CLI against a minked, and polling."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import Daemon

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
DEADLINE = 30.0  # s a polled condition may take on a loaded 2-core machine


def docker(daemon: Daemon, *args: str, input: bytes | None = None, check: bool = True,
           timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([DOCKER, *args], env=daemon.env(), input=input, capture_output=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} → {proc.returncode}: {proc.stderr!r}")
    return proc


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
