"""Stacks on one minked: ``docker stack deploy|ls|ps|services|rm`` (the docker CLI converts
the Compose file itself and drives the API) and ``minke stack …`` (minke's Compose loader and
converter) deploy the same objects with the same labels, so each sees the other's stacks;
the ``deploy:`` keys land in the service specs, and a job in a stack runs to completion."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

import docker
import pytest
from tests.compat.test_swarm_services import client, daemon, wait_for  # noqa: F401
from tests.conftest import Daemon
from tests.support.cli import docker_text, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]

EXAMPLE = Path(__file__).parents[2] / "examples" / "stack" / "compose.yaml"
NAMESPACE = "com.docker.stack.namespace"

COMPOSE = """
services:
  web:
    image: busybox
    command: ["sleep", "600"]
    stop_grace_period: 1s
    build: .
    depends_on: [batch]
    labels: {role: front}
    secrets: [token]
    configs: [{source: motd, target: /etc/motd, mode: 0o440}]
    deploy:
      replicas: 2
      labels: {tier: web}
      placement:
        constraints: [node.role == manager]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "0.5", memory: 64M}
        reservations: {memory: 8M}
      restart_policy: {condition: on-failure, delay: 0s, max_attempts: 3}
      update_config: {parallelism: 2, order: start-first, monitor: 1s}
  batch:
    image: busybox
    command: ["sh", "-c", "test -f /run/secrets/token"]
    secrets: [token]
    deploy:
      mode: replicated-job
      replicas: 2
secrets:
  token: {file: ./token.txt}
configs:
  motd: {file: ./motd.txt}
"""


def write_project(tmp_path: Path) -> Path:
    (tmp_path / "token.txt").write_text("s3cret\n")
    (tmp_path / "motd.txt").write_text("hello\n")
    compose = tmp_path / "compose.yaml"
    compose.write_text(textwrap.dedent(COMPOSE))
    return compose


def minke_ok(daemon: Daemon, *args: str) -> Any:  # noqa: F811
    from tests.integration.test_cli import minke

    result = minke(daemon, *args)
    assert result.returncode == 0, f"minke {' '.join(args)}: {result.stderr}"
    return result


def deployed(client: docker.DockerClient, stack: str) -> bool:  # noqa: F811
    services = {s.name: s for s in client.services.list(
        filters={"label": f"{NAMESPACE}={stack}"})}
    if set(services) != {f"{stack}_web", f"{stack}_batch"}:
        return False
    web = [t for t in services[f"{stack}_web"].tasks() if t["Status"]["State"] == "running"]
    batch = [t for t in services[f"{stack}_batch"].tasks()
             if t["Status"]["State"] == "complete"]
    return len(web) == 2 and len(batch) == 2


def removed(client: docker.DockerClient, stack: str) -> bool:  # noqa: F811
    where = {"label": f"{NAMESPACE}={stack}"}
    return not (client.services.list(filters=where) or client.networks.list(filters=where)
                or client.secrets.list(filters=where) or client.configs.list(filters=where))


@needs_docker_cli
def test_docker_stack_deploy_seen_by_minke(client: docker.DockerClient,  # noqa: F811
                                           daemon: Daemon, tmp_path: Path) -> None:  # noqa: F811
    compose = write_project(tmp_path)
    docker_text(daemon, "stack", "deploy", "-c", str(compose), "dk")
    wait_for("the stack up and its job done", lambda: deployed(client, "dk"), 90)
    assert "dk_default" in [n.name for n in client.networks.list(
        filters={"label": f"{NAMESPACE}=dk"})]
    ls = docker_text(daemon, "stack", "ls").stdout
    assert ls.split() == ["NAME", "SERVICES", "dk", "2"], ls
    assert minke_ok(daemon, "stack", "ls").stdout == ls
    ps = docker_text(daemon, "stack", "ps", "dk").stdout
    assert "dk_web.1" in ps and "dk_web.2" in ps and ps.count("Complete") == 4, ps
    assert "dk_web.1" in minke_ok(daemon, "stack", "ps", "dk").stdout
    services = minke_ok(daemon, "stack", "services", "dk").stdout
    assert "dk_web" in services and "2/2" in services, services
    assert "0/0 (2/2 completed)" in services, services

    rm = minke_ok(daemon, "stack", "rm", "dk")
    assert "Removing service dk_web" in rm.stdout and "Removing network dk_default" in \
        rm.stdout, rm.stdout
    wait_for("the stack gone", lambda: removed(client, "dk"))


@needs_docker_cli
def test_minke_stack_deploy_seen_by_docker(client: docker.DockerClient,  # noqa: F811
                                           daemon: Daemon, tmp_path: Path) -> None:  # noqa: F811
    compose = write_project(tmp_path)
    out = minke_ok(daemon, "stack", "deploy", "-c", str(compose), "mk")
    assert "Ignoring unsupported options: build, depends_on" in out.stderr
    assert out.stdout.splitlines()[:4] == [
        "Creating network mk_default", "Creating secret mk_token", "Creating config mk_motd",
        "Creating service mk_batch"]
    wait_for("the stack up and its job done", lambda: deployed(client, "mk"), 90)
    assert docker_text(daemon, "stack", "ls").stdout.split() == ["NAME", "SERVICES", "mk", "2"]

    web = client.services.get("mk_web").attrs["Spec"]
    assert web["Labels"] == {"tier": "web", NAMESPACE: "mk", "com.docker.stack.image":
                             "busybox"}
    template = web["TaskTemplate"]
    assert template["ContainerSpec"]["Labels"] == {"role": "front", NAMESPACE: "mk"}
    assert template["ContainerSpec"]["Secrets"][0]["SecretName"] == "mk_token"
    assert template["ContainerSpec"]["Configs"][0]["File"] == {
        "Name": "/etc/motd", "UID": "0", "GID": "0", "Mode": 0o440}
    assert template["Placement"]["Constraints"] == ["node.role == manager"]
    assert template["Placement"]["MaxReplicas"] == 2
    assert template["Resources"]["Limits"] == {"NanoCPUs": 500_000_000,
                                               "MemoryBytes": 64 << 20}
    assert template["RestartPolicy"] == {"Condition": "on-failure", "Delay": 0,
                                         "MaxAttempts": 3}
    assert web["UpdateConfig"]["Order"] == "start-first"
    assert template["Networks"][0]["Target"] == client.networks.get("mk_default").id or \
        template["Networks"][0]["Target"] == "mk_default"
    batch = client.services.get("mk_batch").attrs["Spec"]
    assert batch["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}}

    # A second deploy updates in place: same services, none created.
    again = minke_ok(daemon, "stack", "deploy", "-c", str(compose), "mk")
    assert "Updating service mk_web" in again.stdout and "Creating" not in again.stdout

    minke_ok(daemon, "stack", "rm", "mk")
    wait_for("the stack gone", lambda: removed(client, "mk"))


@needs_docker_cli
def test_docker_stack_rm(client: docker.DockerClient,  # noqa: F811
                         daemon: Daemon, tmp_path: Path) -> None:  # noqa: F811
    compose = write_project(tmp_path)
    docker_text(daemon, "stack", "deploy", "-c", str(compose), "gone")
    wait_for("the stack up and its job done", lambda: deployed(client, "gone"), 90)
    network_id = client.networks.get("gone_default").id
    try:
        rm = docker_text(daemon, "stack", "rm", "gone")
        assert "Removing network gone_default" in rm.stdout
        # gone from the listing at once; from the host with its last task container
        listing = docker_text(daemon, "network", "ls", "--format", "{{.Name}}").stdout
        assert "gone_default" not in listing.split(), listing
        wait_for("the network off the host", lambda: subprocess.run(
            ["ip", "link", "show", "mk-" + network_id[:12]], capture_output=True
        ).returncode != 0)
    finally:
        minke_ok(daemon, "stack", "rm", "gone")  # what the docker CLI left, if anything
        wait_for("the stack gone", lambda: removed(client, "gone"))


def test_minke_stack_bad_input(client: docker.DockerClient,  # noqa: F811
                               daemon: Daemon, tmp_path: Path) -> None:  # noqa: F811
    from tests.integration.test_cli import minke

    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  app:\n    build: .\n")
    result = minke(daemon, "stack", "deploy", "-c", str(compose), "bad")
    assert result.returncode != 0
    assert "services.app: image is required" in result.stderr
    compose.write_text("services:\n  app:\n    image: busybox\n    deploy:\n"
                       "      mode: global\n      replicas: 2\n")
    result = minke(daemon, "stack", "deploy", "-c", str(compose), "bad")
    assert "replicas can only be used with replicated or replicated-job mode" in \
        result.stderr, result.stderr
    assert client.services.list() == []
    nothing = minke_ok(daemon, "stack", "rm", "bad")
    assert nothing.stdout == "Nothing found in stack: bad\n"


def test_example_stack(client: docker.DockerClient, daemon: Daemon) -> None:  # noqa: F811
    minke_ok(daemon, "stack", "deploy", "-c", str(EXAMPLE), "demo")

    def done() -> bool:
        services = {s.name: s for s in client.services.list(
            filters={"label": f"{NAMESPACE}=demo"})}
        if len(services) != 3:
            return False
        states = {name: [t["Status"]["State"] for t in s.tasks()]
                  for name, s in services.items()}
        return states["demo_web"].count("running") == 2 and \
            states["demo_worker"].count("running") == 1 and \
            states["demo_migrate"].count("complete") == 3
    wait_for("the example stack up", done, 90)
    ls = docker_text(daemon, "stack", "services", "demo").stdout
    assert "0/0 (3/3 completed)" in ls, ls
    # The worker reaches the web service by its name over the stack's overlay network; the
    # job read its secret.
    wait_for("the worker fetched the page", lambda: "hello from a minke stack" in docker_text(
        daemon, "service", "logs", "demo_worker").stdout, 30)
    assert docker_text(daemon, "service", "logs", "demo_migrate").stdout.count(
        "migrating with key 15 bytes") == 3
    minke_ok(daemon, "stack", "rm", "demo")
    wait_for("the example stack gone", lambda: removed(client, "demo"))
