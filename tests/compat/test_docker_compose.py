"""Debian's docker-compose 1.29.2 (the Python client) against minked, unchanged:
``build``, ``up -d``, ``ps``, ``logs``, ``exec`` (``COMPOSE_INTERACTIVE_NO_CLI=1``: through
the API, not the docker CLI) and ``down -v``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique

pytestmark = [pytest.mark.compat, pytest.mark.integration]

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"

APP = """
version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c",
              "echo compose-v1-says-hi; echo hi > /www/index.html; httpd -f -p 80 -h /www"]
    tmpfs: [/www]
    environment: [GREETING=hello]
    stop_grace_period: 1s
    depends_on: [store]
  store:
    image: busybox:latest
    command: sleep 300
    volumes: [data:/data]
    stop_grace_period: 1s
volumes:
  data: {}
"""


@pytest.fixture
def compose_project(minke_daemon: Daemon, busybox_image: str, tmp_path: Path):  # noqa: ANN201
    if not Path(COMPOSE).exists():
        pytest.skip("docker-compose is not installed (scripts/install installs it)")
    name = unique("dc").replace("-", "")
    (tmp_path / "docker-compose.yml").write_text(APP)
    env = {**minke_daemon.env(), "COMPOSE_PROJECT_NAME": name,
           "COMPOSE_INTERACTIVE_NO_CLI": "1"}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} → {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    try:
        yield name, run
    finally:
        run("down", "-v", "-t", "0", check=False)


def test_up_ps_logs_exec_down(compose_project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    name, run = compose_project
    run("up", "-d")
    ps = run("ps").stdout
    assert f"{name}_web_1" in ps and f"{name}_store_1" in ps and "Up" in ps
    assert "compose-v1-says-hi" in run("logs", "web").stdout
    out = run("exec", "-T", "web", "sh", "-c", "echo $GREETING; wget -q -O- http://web/").stdout
    assert out.split() == ["hello", "hi"]
    run("exec", "-T", "store", "sh", "-c", "echo kept > /data/f")
    run("down", "-v", "-t", "0")
    import docker

    client = docker.APIClient(base_url=minke_daemon.host, version="auto")
    label = f"com.docker.compose.project={name}"
    assert client.containers(all=True, filters={"label": label}) == []
    assert [n for n in client.networks() if n["Name"].startswith(name)] == []
    assert [v for v in client.volumes().get("Volumes") or []
            if v["Name"].startswith(name)] == []
    client.close()


def test_build(compose_project, tmp_path: Path) -> None:  # noqa: ANN001
    name, run = compose_project
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox:latest\nRUN echo built > /b\n")
    (tmp_path / "docker-compose.yml").write_text(
        'version: "3.8"\nservices:\n  b:\n    build: ./ctx\n    command: cat /b\n')
    built = run("build", check=False)
    if "page not found" in built.stderr:
        pytest.skip("minked has no POST /build yet (the build issue)")
    assert built.returncode == 0, built.stderr
    run("up", "-d")
    assert "built" in run("logs", "b").stdout
