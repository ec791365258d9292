"""Helpers for Compose integration tests: run ``minke compose`` against the session daemon
in a project directory of its own, and tear the project down afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique


@dataclass
class ComposeProject:
    daemon: Daemon
    directory: Path
    name: str

    def write(self, text: str, file: str = "compose.yaml") -> Path:
        path = self.directory / file
        path.write_text(text)
        return path

    def run(self, *args: str, check: bool = True, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.daemon.env(), "COMPOSE_PROJECT_NAME": self.name,
               "SECRET_VALUE": "from-the-environment", **(env or {})}
        result = subprocess.run([sys.executable, "-m", "minke.cli.main", "compose", *args],
                                cwd=self.directory, env=env, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"minke compose {' '.join(args)} failed "
                                 f"({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def docker(self):  # noqa: ANN201 - docker-py's client
        import docker

        return docker.APIClient(base_url=self.daemon.host, version="auto", timeout=60)


def missing_endpoint(daemon: Daemon, path: str) -> bool:
    """True while another issue's endpoint (networks, volumes) has not landed yet."""
    import docker

    client = docker.APIClient(base_url=daemon.host, version="auto")
    try:
        client._result(client._get(client._url(path)), json=True)
    except docker.errors.APIError as exc:
        return exc.status_code == 404 and "page not found" in str(exc)
    finally:
        client.close()
    return False


@pytest.fixture
def needs_networks(minke_daemon: Daemon) -> None:
    for path in ("/networks", "/volumes"):
        if missing_endpoint(minke_daemon, path):
            pytest.skip(f"minked has no {path} endpoint yet (networking/volumes issues)")


@pytest.fixture
def project(minke_daemon: Daemon, busybox_image: str, tmp_path: Path
            ) -> Iterator[ComposeProject]:
    name = unique("cp")
    directory = tmp_path / name
    directory.mkdir()
    proj = ComposeProject(minke_daemon, directory, name)
    try:
        yield proj
    finally:
        if (directory / "compose.yaml").exists():
            proj.run("down", "-v", "-t", "0", "--remove-orphans", check=False)
