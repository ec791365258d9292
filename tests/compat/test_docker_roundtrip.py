"""Images travel between minke and real Docker: minke's save loads into Docker and back."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.compat.test_docker_cli import DOCKER
from tests.conftest import Daemon, unique

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def run(host: str, *args: str) -> bytes:
    proc = subprocess.run([DOCKER, *args], env={**os.environ, "DOCKER_HOST": host},
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def test_minke_save_loads_into_docker_and_back(minke_daemon: Daemon, busybox_tar: Path,
                                               real_docker: str, tmp_path: Path) -> None:
    ref = f"roundtrip/{unique()}:1"
    run(minke_daemon.host, "import", "-c", 'CMD ["sh"]', "-c", "ENV A=1", str(busybox_tar), ref)
    minke_id = run(minke_daemon.host, "inspect", "-f", "{{.Id}}", ref).strip()
    archive = tmp_path / "from-minke.tar"
    run(minke_daemon.host, "save", "-o", str(archive), ref)
    try:
        assert f"Loaded image: {ref}".encode() in run(real_docker, "load", "-i", str(archive))
        assert run(real_docker, "inspect", "-f", "{{.Id}}", ref).strip() == minke_id
        assert run(real_docker, "run", "--rm", ref, "sh", "-c", "echo $A") == b"1\n"
        # And back: Docker's own save of it (and of an image Docker made) loads into minke.
        run(real_docker, "tag", ref, ref + "-docker")
        back = tmp_path / "from-docker.tar"
        run(real_docker, "save", "-o", str(back), ref + "-docker")
        run(minke_daemon.host, "rmi", ref)
        out = run(minke_daemon.host, "load", "-i", str(back))
        assert f"Loaded image: {ref}-docker".encode() in out
        assert run(minke_daemon.host, "inspect", "-f", "{{.Id}}", ref + "-docker").strip() \
            == minke_id
        assert run(minke_daemon.host, "run", "--rm", ref + "-docker", "sh", "-c",
                   "echo $A") == b"1\n"
    finally:
        subprocess.run([DOCKER, "rmi", "-f", ref, ref + "-docker"],
                       env={**os.environ, "DOCKER_HOST": real_docker}, capture_output=True)
        subprocess.run([DOCKER, "rmi", "-f", ref + "-docker"],
                       env={**os.environ, "DOCKER_HOST": minke_daemon.host}, capture_output=True)
