"""Lifecycle hooks on real containers: pre_start init containers, post_start and pre_stop
execs, their failures reported as Compose reports them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

HOOKED = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "cat /data/init; sleep 300"]
    volumes: [data:/data]
    network_mode: none
    stop_grace_period: 1s
    environment: {FROM_SERVICE: svc}
    pre_start:
      - command: ["sh", "-c", "echo init-$$STEP-$$FROM_SERVICE-$$(id -u) > /data/init"]
        environment: {STEP: one}
      - command: ["sh", "-c", "echo second >> /data/init"]
    post_start:
      - command: ["sh", "-c", "echo post-$$(id -u)-$$(pwd)-$$HOOKVAR > /tmp/post"]
        user: "1000"
        working_dir: /tmp
        environment: [HOOKVAR=hv]
    pre_stop:
      - command: ["sh", "-c", "echo pre-stop >> /data/log"]
volumes:
  data: {}
"""


def volume_file(project, path: str) -> str:  # noqa: ANN001
    client = project.docker()
    c = client.create_container("busybox", ["cat", path], host_config=client.create_host_config(
        binds=[f"{project.name}_data:/data"], network_mode="none"))
    try:
        client.start(c)
        client.wait(c)
        return client.logs(c).decode()
    finally:
        client.remove_container(c, force=True)


def hook_containers(project) -> list[dict]:  # noqa: ANN001
    return project.docker().containers(all=True, filters={"label": [
        f"com.docker.compose.project={project.name}", "com.docker.compose.hook=pre_start"]})


def test_pre_start_post_start_and_pre_stop(project) -> None:  # noqa: ANN001
    project.write(HOOKED)
    project.run("up", "-d")
    # pre_start ran to completion, in order, before the service, on its volumes
    logs = project.run("logs", "--no-log-prefix", "web").stdout
    assert logs.split() == ["init-one-svc-0", "second"]
    assert hook_containers(project) == []  # removed once successful
    # post_start ran in the container, as the hook's user, directory and environment
    out = project.run("exec", "-T", "web", "cat", "/tmp/post").stdout
    assert out.strip() == "post-1000-/tmp-hv"
    # a second up with nothing to change runs no hook again
    project.run("exec", "-T", "web", "rm", "/data/init")
    project.run("up", "-d")
    assert project.run("exec", "-T", "web", "ls", "/data").stdout.split() == []
    project.run("stop", "web")
    assert volume_file(project, "/data/log").split() == ["pre-stop"]
    project.run("up", "-d")  # started again: a replica ran before, so no pre_start
    project.run("down", "-t", "0")
    assert volume_file(project, "/data/log").split() == ["pre-stop", "pre-stop"]


def test_failing_hooks_fail_the_up(project) -> None:  # noqa: ANN001
    project.write(HOOKED.replace("echo second >> /data/init", "echo broken >&2; exit 3"))
    result = project.run("up", "-d", check=False)
    assert result.returncode == 1
    assert 'service "web" pre_start[1] exited with code 3: broken (hook container' in \
        result.stderr
    kept = hook_containers(project)
    assert len(kept) == 1 and kept[0]["State"] == "exited"  # kept for inspection
    web = project.docker().inspect_container(f"{project.name}-web-1")
    assert web["State"]["Status"] == "created"  # never started
    project.write(HOOKED.replace("echo post-", "echo failed >&2; exit 4; echo "))
    result = project.run("up", "-d", check=False)
    assert result.returncode == 1
    assert "web hook exited with status 4: failed" in result.stderr
    assert hook_containers(project) == []  # the next up cleared the one kept


def test_per_replica_pre_start_is_refused(project) -> None:  # noqa: ANN001
    project.write(HOOKED.replace("environment: {STEP: one}",
                                 "environment: {STEP: one}\n        per_replica: true"))
    result = project.run("up", "-d", check=False)
    assert result.returncode == 1
    assert "pre_start[0]: per_replica is not yet supported" in result.stderr
