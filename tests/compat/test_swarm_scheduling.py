"""Resource-aware scheduling and batch jobs through the real docker CLI on one minked started
with ``--node-generic-resource gpu=2``: ``--reserve-cpu/--reserve-memory`` never
over-commit the node and a task that fits nowhere pends with Docker's message until
something frees; ``--generic-resource`` counts the node's GPUs and tells each container its
share; bad reservations are refused with SwarmKit's words; ``minke job run`` waits for a
replicated job and returns its exit status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import Daemon, import_busybox, private_daemon
from tests.support.cli import docker_text, needs_docker_cli
from tests.support.polling import wait_for
from tests.support.swarm import swarm_client

pytestmark = [pytest.mark.compat, pytest.mark.integration, needs_docker_cli]

SLEEP = ["sleep", "600"]


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with private_daemon("mk-sched-", "--node-generic-resource", "gpu=2") as d:
        import_busybox(d, busybox_tar)
        yield d


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    """A fresh swarm on the module's daemon for each test."""
    with swarm_client(daemon) as c:
        yield c


def states(client: docker.DockerClient, name: str) -> list[str]:
    return sorted(t["Status"]["State"] for t in client.services.get(name).tasks()
                  if t["DesiredState"] == "running")


def test_reservations_pend_with_dockers_message_until_something_frees(
        client: docker.DockerClient, daemon: Daemon) -> None:
    most = str(client.info()["MemTotal"] * 6 // 10)  # bytes: two never fit together
    docker_text(daemon, "service", "create", "-d", "--name", "first", "--reserve-memory",
                most, "--reserve-cpu", "0.5", "busybox", *SLEEP)
    wait_for("first running", lambda: states(client, "first") == ["running"])
    docker_text(daemon, "service", "create", "-d", "--name", "second", "--reserve-memory",
                most, "busybox", *SLEEP)
    wait_for("second pending", lambda: [
        t for t in client.services.get("second").tasks() if t["Status"].get("Err")])
    ps = docker_text(daemon, "service", "ps", "--no-trunc", "second").stdout
    assert "no suitable node (insufficient resources on 1 node)" in ps, ps
    assert "Pending" in ps, ps
    spec = json.loads(docker_text(daemon, "service", "inspect", "first").stdout)[0]["Spec"]
    assert spec["TaskTemplate"]["Resources"]["Reservations"] == {
        "NanoCPUs": 500_000_000, "MemoryBytes": int(most)}
    docker_text(daemon, "service", "rm", "first")
    wait_for("second placed once first is gone",
             lambda: states(client, "second") == ["running"])
    docker_text(daemon, "service", "rm", "second")


def test_generic_resources_are_counted_and_told_to_the_task(
        client: docker.DockerClient, daemon: Daemon) -> None:
    node = json.loads(docker_text(daemon, "node", "inspect", "self").stdout)[0]
    assert node["Description"]["Resources"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 2}}]
    docker_text(daemon, "service", "create", "-d", "--name", "cuda", "--replicas", "3",
                "--generic-resource", "gpu=1", "busybox", *SLEEP)
    wait_for("two running, one pending", lambda: states(client, "cuda") == [
        "pending", "running", "running"] and all(
        t["Status"].get("Err") for t in client.services.get("cuda").tasks()
        if t["Status"]["State"] == "pending"))
    [waiting] = [t for t in client.services.get("cuda").tasks()
                 if t["Status"]["State"] == "pending"]
    assert waiting["Status"]["Err"] == "no suitable node (insufficient resources on 1 node)"
    running = [t for t in client.services.get("cuda").tasks()
               if t["Status"]["State"] == "running"]
    assert all(t["AssignedGenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}] for t in running)
    container = client.containers.get(running[0]["Status"]["ContainerStatus"]["ContainerID"])
    assert "DOCKER_RESOURCE_GPU=1" in container.attrs["Config"]["Env"]
    docker_text(daemon, "service", "rm", "cuda")

    from tests.integration.test_cli import minke

    def reserved(name: str) -> object:
        spec = client.services.get(name).attrs["Spec"]
        return spec["TaskTemplate"]["Resources"]["Reservations"].get("GenericResources")
    assert minke(daemon, "service", "create", "-d", "--name", "m", "--generic-resource",
                 "gpu=2", "busybox", *SLEEP).returncode == 0
    assert reserved("m") == [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 2}}]
    assert minke(daemon, "service", "update", "-d", "--generic-resource-add", "gpu=1",
                 "m").returncode == 0
    assert reserved("m") == [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]
    assert minke(daemon, "service", "update", "-d", "--generic-resource-rm", "gpu",
                 "m").returncode == 0
    assert not reserved("m")
    docker_text(daemon, "service", "rm", "m")


@pytest.mark.parametrize(("args", "message"), [
    (("--reserve-memory", "1k"), "invalid memory value 1024: Must be at least 4MiB"),
    (("--generic-resource", "fpga=1"), "unknown generic resource 'fpga'"),
    (("--mode", "replicated-job", "--replicas", "2", "--max-concurrent", "4"),
     "ReplicatedJob.TotalCompletions (2) must be at least ReplicatedJob.MaxConcurrent (4)"),
])
def test_bad_reservations_are_refused(client: docker.DockerClient, daemon: Daemon,
                                      args: tuple[str, ...], message: str) -> None:
    out = docker_text(daemon, "service", "create", "-d", "--name", "bad", *args,
                      "busybox", "true", check=False)
    assert out.returncode != 0 and message in out.stderr, out.stderr
    assert client.services.list() == []


def test_minke_job_run_waits_and_returns_the_exit_status(
        client: docker.DockerClient, daemon: Daemon) -> None:
    from tests.integration.test_cli import minke

    ok = minke(daemon, "job", "run", "--name", "batch", "--completions", "4",
               "--parallelism", "2", "--cpus", "0.1", "--memory", "8m", "busybox", "true")
    assert ok.returncode == 0, ok.stderr
    assert "job progress: 4 out of 4 complete" in ok.stdout.splitlines(), ok.stdout
    assert client.services.list() == []  # a job that succeeded is removed
    bad = minke(daemon, "job", "run", "--name", "failing", "--max-attempts", "1", "busybox",
                "sh", "-c", "exit 3")
    assert bad.returncode == 3, (bad.stdout, bad.stderr)
    assert "job failing failed" in bad.stderr, bad.stderr
    ls = docker_text(daemon, "service", "ls").stdout
    assert "failing" in ls and "replicated job" in ls and "(0/1 completed)" in ls, ls
    ps = docker_text(daemon, "service", "ps", "failing").stdout
    assert ps.count("Failed") == 2, ps  # the run and its one retry
    docker_text(daemon, "service", "rm", "failing")
