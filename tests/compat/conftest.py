"""A real Docker daemon for round trips between minke and Docker.

Uses ``DOCKER_ANCHOR_HOST`` or /var/run/docker.sock when one answers; otherwise starts a
private dockerd with ``../shared/tools/docker-anchor`` (its own network namespace, so its
firewall rules never touch the host) and stops it afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import SHARED
from tests.support.docker import running_docker

ANCHOR = SHARED / "tools" / "docker-anchor"


@pytest.fixture(scope="session")
def real_docker() -> Iterator[str]:
    """DOCKER_HOST of a real Docker daemon."""
    host = running_docker()
    if host:
        yield host
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
