"""Swarm jobs through the real docker CLI and docker-py on one minked: replicated jobs run
at most MaxConcurrent busybox tasks until TotalCompletions completed, global jobs run once
per node, failed tasks are retried per the restart policy, an update runs the job again,
and ``docker service ls``/``ps`` show their progress."""

from __future__ import annotations

import json
from typing import Any

import docker
import pytest
from tests.compat.test_swarm_services import client, daemon, wait_for  # noqa: F401
from tests.conftest import Daemon
from tests.support.cli import docker_text, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def states(service: Any, iteration: int | None = None) -> list[str]:
    return sorted(t["Status"]["State"] for t in service.tasks()
                  if iteration is None or t["JobIteration"]["Index"] == iteration)


@needs_docker_cli
def test_docker_cli_replicated_job(client: docker.DockerClient, daemon: Daemon) -> None:  # noqa: F811
    create = docker_text(daemon, "service", "create", "--name", "batch", "--mode",
                         "replicated-job", "--replicas", "3", "--max-concurrent", "1",
                         "--restart-delay", "0s", "busybox", "true")
    # Without -d the CLI follows the job's progress and returns when it is complete.
    service_id = create.stdout.strip().splitlines()[0]
    service = client.services.get(service_id)
    assert states(service) == ["complete"] * 3, service.tasks()
    assert service.attrs["Spec"]["Mode"] == {
        "ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 3}}
    assert service.attrs["JobStatus"]["JobIteration"] == {"Index": 0}
    ls = docker_text(daemon, "service", "ls").stdout
    assert "replicated job" in ls and "0/0 (3/3 completed)" in ls, ls
    ps = docker_text(daemon, "service", "ps", "batch").stdout
    # Desired and current state; slot 0 is named by its node, as Docker's CLI does.
    assert ps.count("Complete") == 6 and "batch.2" in ps and "batch.1" in ps, ps

    docker_text(daemon, "service", "update", "--force", "-d", "batch")
    iteration = client.services.get(service_id).attrs["JobStatus"]["JobIteration"]["Index"]
    assert iteration > 0
    wait_for("the job run again", lambda: states(service, iteration) == ["complete"] * 3)
    inspect = json.loads(docker_text(daemon, "service", "inspect", "batch").stdout)[0]
    assert inspect["JobStatus"]["JobIteration"]["Index"] == iteration
    docker_text(daemon, "service", "rm", "batch")


@needs_docker_cli
def test_docker_cli_global_job(client: docker.DockerClient, daemon: Daemon) -> None:  # noqa: F811
    docker_text(daemon, "service", "create", "--name", "everywhere", "--mode", "global-job",
                "busybox", "true")
    service = client.services.get("everywhere")
    assert states(service) == ["complete"]
    ls = docker_text(daemon, "service", "ls", "--filter", "mode=global-job").stdout
    assert "everywhere" in ls and "0/0 (1/1 completed)" in ls, ls
    docker_text(daemon, "service", "rm", "everywhere")


def test_docker_py_job_runs_concurrently_and_retries_failures(
        client: docker.DockerClient) -> None:  # noqa: F811
    # Every run fails: each slot is run once and retried once (MaxAttempts 1), then left
    # failed, and the job never counts a completion.
    service = client.services.create(
        "busybox", ["sh", "-c", "sleep 0.3; exit 3"], name="failing",
        mode=docker.types.ServiceMode("replicated-job", replicas=2, concurrency=2),
        restart_policy=docker.types.RestartPolicy("on-failure", delay=0, max_attempts=1))
    wait_for("two failures per slot", lambda: states(service) == ["failed"] * 4)
    slots = sorted(t["Slot"] for t in service.tasks())
    assert slots == [0, 0, 1, 1]
    assert all(t["DesiredState"] == "shutdown" for t in service.tasks())
    listed = client.api.services(filters={"name": "failing"}, status=True)[0]
    assert listed["ServiceStatus"]["CompletedTasks"] == 0
    service.remove()

    done = client.services.create(
        "busybox", ["true"], name="done",
        mode=docker.types.ServiceMode("replicated-job", replicas=4, concurrency=2))
    wait_for("4 completions", lambda: states(done) == ["complete"] * 4)
    listed = client.api.services(filters={"name": "done"}, status=True)[0]
    assert listed["ServiceStatus"] == {"RunningTasks": 0, "DesiredTasks": 0,
                                       "CompletedTasks": 4}
    done.remove()


@needs_docker_cli
def test_minke_service_verbs_for_jobs(client: docker.DockerClient,  # noqa: F811
                                      daemon: Daemon) -> None:  # noqa: F811
    from tests.integration.test_cli import minke

    out = minke(daemon, "service", "create", "--name", "mjob", "--mode", "replicated-job",
                "--replicas", "3", "--max-concurrent", "2", "busybox", "true")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "job progress: 3 out of 3 complete", out.stdout
    service = client.services.get("mjob")
    assert service.attrs["Spec"]["Mode"] == {
        "ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}
    ls = minke(daemon, "service", "ls").stdout
    assert ls == docker_text(daemon, "service", "ls").stdout
    assert "replicated job" in ls and "0/0 (3/3 completed)" in ls, ls
    # An update runs the job again, and waits for the new iteration to complete.
    again = minke(daemon, "service", "update", "--force", "mjob")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "job progress: 3 out of 3 complete", again.stdout
    iteration = client.services.get("mjob").attrs["JobStatus"]["JobIteration"]["Index"]
    assert [t["Status"]["State"] for t in service.tasks()
            if t["JobIteration"]["Index"] == iteration] == ["complete"] * 3
    bad = minke(daemon, "service", "create", "--max-concurrent", "2", "busybox", "true")
    assert bad.returncode != 0
    assert "max-concurrent can only be used with replicated-job mode" in bad.stderr
    service.remove()
