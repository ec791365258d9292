"""Helpers of the security and resource tests: the real docker CLI against a minked."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from tests.conftest import Daemon

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def docker(daemon: Daemon, *args: str, check: bool = True,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([DOCKER, *args], env=daemon.env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} → {proc.returncode}: {proc.stderr!r}")
    return proc


def run(daemon: Daemon, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``docker run --rm --network none ...``: these tests need no network."""
    return docker(daemon, "run", "--rm", "--network", "none", *args, check=check)


def inspect(daemon: Daemon, name: str) -> dict[str, Any]:
    return json.loads(docker(daemon, "inspect", name).stdout)[0]


def container_names(daemon: Daemon) -> set[str]:
    return set(docker(daemon, "ps", "-a", "--format", "{{.Names}}").stdout.split())
