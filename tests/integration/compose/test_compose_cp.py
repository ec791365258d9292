"""``minke compose cp`` on real containers: into every replica (or one with ``--index``),
out of one, a tar through ``-``, and errors that name the missing service or path."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPLICAS = """
services:
  app:
    image: busybox
    command: ["sh", "-c", "echo replica-$$HOSTNAME > /tmp/who; sleep 300"]
    network_mode: none
    stop_grace_period: 1s
    deploy: {replicas: 2}
"""


def read_in(project, index: int, path: str) -> str:  # noqa: ANN001
    return project.run("exec", "-T", "--index", str(index), "app", "cat", path).stdout


def test_copy_into_every_replica_and_out_of_one(project, tmp_path: Path) -> None:  # noqa: ANN001
    project.write(REPLICAS)
    project.run("up", "-d")
    local = tmp_path / "payload.txt"
    local.write_text("copied-in\n")
    result = project.run("cp", str(local), "app:/tmp/payload.txt")
    assert f"{project.name}-app-1  Copied" in result.stderr
    assert f"{project.name}-app-2  Copied" in result.stderr
    assert read_in(project, 1, "/tmp/payload.txt") == "copied-in\n"
    assert read_in(project, 2, "/tmp/payload.txt") == "copied-in\n"

    # --index: only that replica
    local.write_text("only-two\n")
    project.run("cp", "--index", "2", str(local), "app:/tmp/payload.txt")
    assert read_in(project, 1, "/tmp/payload.txt") == "copied-in\n"
    assert read_in(project, 2, "/tmp/payload.txt") == "only-two\n"

    # out: replica 1 by default, --index picks another; into a directory keeps the name
    out = tmp_path / "out"
    out.mkdir()
    project.run("cp", "app:/tmp/who", str(out))
    one = project.docker().inspect_container(f"{project.name}-app-1")["Config"]["Hostname"]
    assert (out / "who").read_text() == f"replica-{one}\n"
    project.run("cp", "--index", "2", "app:/tmp/payload.txt", str(out / "renamed"))
    assert (out / "renamed").read_text() == "only-two\n"


def test_copy_a_tar_through_stdin_and_stdout(project) -> None:  # noqa: ANN001
    project.write(REPLICAS)
    project.run("up", "-d")
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        data = b"from-a-tar\n"
        info = tarfile.TarInfo("fromtar.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    env = {**project.daemon.env(), "COMPOSE_PROJECT_NAME": project.name}
    base = [sys.executable, "-m", "minke.cli.main", "compose"]
    subprocess.run([*base, "cp", "-", "app:/tmp"], input=body.getvalue(), env=env,
                   cwd=project.directory, check=True, capture_output=True, timeout=60)
    for index in (1, 2):  # the one stdin tar reached every replica
        assert read_in(project, index, "/tmp/fromtar.txt") == "from-a-tar\n"
    out = subprocess.run([*base, "cp", "app:/tmp/fromtar.txt", "-"], env=env,
                         cwd=project.directory, check=True, capture_output=True, timeout=60)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        member = tar.extractfile("fromtar.txt")
        assert member is not None and member.read() == b"from-a-tar\n"


def test_errors_name_the_service_or_path(project, tmp_path: Path) -> None:  # noqa: ANN001
    project.write(REPLICAS + """
  idle:
    image: busybox
    network_mode: none
""")
    project.run("up", "-d", "app")
    local = tmp_path / "f"
    local.write_text("x")

    result = project.run("cp", str(local), "nope:/tmp/f", check=False)
    assert result.returncode == 1
    assert "no such service: nope" in result.stderr

    result = project.run("cp", str(local), "idle:/tmp/f", check=False)  # defined, not created
    assert result.returncode == 1
    assert 'no container found for service "idle"' in result.stderr

    result = project.run("cp", "--index", "7", "app:/tmp/who", str(tmp_path), check=False)
    assert result.returncode == 1
    assert 'service "app" is not running container #7' in result.stderr

    result = project.run("cp", "app:/no/such/file", str(tmp_path / "x"), check=False)
    assert result.returncode == 1
    assert (f"Could not find the file /no/such/file in container {project.name}-app-1"
            in result.stderr)
    assert not (tmp_path / "x").exists()

    result = project.run("cp", str(tmp_path / "absent"), "app:/tmp/", check=False)
    assert result.returncode == 1
    assert f"stat {tmp_path / 'absent'}: no such file or directory" in result.stderr

    result = project.run("cp", "app:/tmp/who", "app:/tmp/again", check=False)
    assert result.returncode == 1
    assert "copying between services is not supported" in result.stderr
