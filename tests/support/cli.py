"""The real docker CLI run against a daemon, as the compat and integration tests run it:
``docker`` (bytes out) and ``docker_text`` (str out) fail the test with docker's stderr, and
``needs_docker_cli`` skips tests on a machine without the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Daemon

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
TIMEOUT = 120.0  # s; a push or pull of a large image on a loaded 2-core machine

needs_docker_cli = pytest.mark.skipif(not os.path.exists(DOCKER),
                                      reason="docker CLI not installed")


def docker(daemon: Daemon, *args: str, input: bytes | None = None, check: bool = True,
           timeout: float = TIMEOUT, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[bytes]:
    """``docker ARGS`` with ``DOCKER_HOST`` set to ``daemon`` (and ``env`` on top)."""
    proc = subprocess.run([DOCKER, *args], env={**daemon.env(), **(env or {})}, input=input,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} → {proc.returncode}: {proc.stderr!r}")
    return proc


def docker_text(daemon: Daemon, *args: str, input: str | None = None, check: bool = True,
                timeout: float = TIMEOUT, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    """``docker`` with text in and out."""
    proc = subprocess.run([DOCKER, *args], env={**daemon.env(), **(env or {})}, input=input,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} → {proc.returncode}: {proc.stderr}")
    return proc
