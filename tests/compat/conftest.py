"""A real Docker daemon for round trips between minke and Docker.

Uses ``DOCKER_ANCHOR_HOST`` or /var/run/docker.sock when one answers; otherwise starts a
private dockerd with ``../shared/tools/docker-anchor`` (its own network namespace, so its
firewall rules never touch the host) and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import SHARED

ANCHOR = SHARED / "tools" / "docker-anchor"


def _answers(path: str) -> bool:
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        return b"OK" in s.recv(1024)
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture(scope="session")
def real_docker() -> Iterator[str]:
    """DOCKER_HOST of a real Docker daemon."""
    host = os.environ.get("DOCKER_ANCHOR_HOST", "")
    path = host[len("unix://"):] if host.startswith("unix://") else host
    for candidate in (path, "/var/run/docker.sock"):
        if candidate and _answers(candidate):
            yield f"unix://{candidate}"
            return
    if not ANCHOR.exists() or shutil.which("dockerd") is None:
        pytest.skip("no Docker daemon and no docker-anchor to start one")
    root = Path(tempfile.mkdtemp(prefix="anchor-", dir="/tmp"))
    proc = subprocess.run(["bash", str(ANCHOR), "start", str(root)], capture_output=True,
                          text=True, timeout=180)
    if proc.returncode != 0:
        pytest.skip(f"docker-anchor could not start dockerd: {proc.stdout}{proc.stderr}")
    try:
        yield f"unix://{root}/docker.sock"
    finally:
        subprocess.run(["bash", str(ANCHOR), "stop", str(root)], capture_output=True, timeout=60)
        subprocess.run(["umount", "-R", "-l", str(root / "root")], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
