"""``minke compose up`` when a published host port is taken: the error names the service's
container and the port, and what was running before keeps running."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.integration

PROJECT = """
services:
  keeper:
    image: busybox
    command: sleep 300
    stop_grace_period: 1s
  web:
    image: busybox
    command: ["sh", "-c", "echo up > /www/index.html; httpd -f -p 80 -h /www"]
    tmpfs: [/www]
    stop_grace_period: 1s
    ports: ["127.0.0.1:{port}:80"]
"""


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by a listening socket of the test's own."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def states(project) -> dict[str, tuple[str, str]]:  # noqa: ANN001
    found = json.loads(project.run("ps", "-a", "--format", "json").stdout)
    return {c["Service"]: (c["ID"], c["State"]) for c in found}


def test_taken_port_fails_naming_service_and_port(project, needs_networks  # noqa: ANN001
                                                  ) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken_port = holder.getsockname()[1]
        project.write(PROJECT.replace("{port}", str(taken_port)))
        project.run("up", "-d", "keeper")
        keeper = states(project)["keeper"]
        result = project.run("up", "-d", check=False)
    finally:
        holder.close()
    assert result.returncode == 1
    assert f'service "web" (container {project.name}-web-1)' in result.stderr
    assert f"127.0.0.1:{taken_port}" in result.stderr
    assert "address already in use" in result.stderr
    now = states(project)
    assert now["keeper"] == keeper and keeper[1] == "running"
    assert now.get("web", ("", "created"))[1] != "running"

    # once the port is free, the next up starts web and leaves keeper alone
    project.run("up", "-d")
    now = states(project)
    assert now["keeper"] == keeper and now["web"][1] == "running"


def test_taken_port_on_recreate_keeps_the_old_container(project, needs_networks,  # noqa: ANN001
                                                        taken_port: int) -> None:
    project.write(PROJECT.replace("{port}", str(free_port())))
    project.run("up", "-d")
    before = states(project)
    assert {s for _, s in before.values()} == {"running"}

    project.write(PROJECT.replace("{port}", str(taken_port)))
    result = project.run("up", "-d", check=False)
    assert result.returncode == 1
    assert f'service "web" (container {project.name}-web-1)' in result.stderr
    assert f"127.0.0.1:{taken_port}" in result.stderr
    assert states(project) == before  # the old web, running, and keeper untouched
