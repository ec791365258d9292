"""``minke compose`` on real containers: convergence, health, scale, run/exec, down."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

ISOLATED = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web-says-$$GREETING; sleep 300"]
    environment: {GREETING: "${GREETING:-hello}"}
    network_mode: none
    stop_grace_period: 1s
    depends_on:
      db: {condition: service_healthy}
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 300"]
    network_mode: none
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 300ms
      retries: 20
"""


def containers(project) -> dict[str, dict]:  # noqa: ANN001
    out = project.run("ps", "-a", "--format", "json").stdout
    return {c["Name"]: c for c in json.loads(out)}


def test_up_names_labels_and_healthy_dependency(project) -> None:  # noqa: ANN001
    project.write(ISOLATED)
    project.run("up", "-d")
    found = containers(project)
    assert set(found) == {f"{project.name}-web-1", f"{project.name}-db-1"}
    client = project.docker()
    web = client.inspect_container(f"{project.name}-web-1")
    db = client.inspect_container(f"{project.name}-db-1")
    labels = web["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == project.name
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.depends_on"] == "db:service_healthy:false"
    assert labels["com.docker.compose.project.working_dir"] == str(project.directory)
    # web was started only once db was healthy
    assert db["State"]["Health"]["Status"] == "healthy"
    assert web["State"]["StartedAt"] > db["State"]["StartedAt"]
    logs = project.run("logs", "web").stdout
    assert f"{project.name}-web-1  | web-says-hello" in logs


def test_second_up_recreates_only_what_changed(project) -> None:  # noqa: ANN001
    project.write(ISOLATED)
    project.run("up", "-d")
    before = {n: c["ID"] for n, c in containers(project).items()}
    again = project.run("up", "-d")
    assert "Recreate" not in again.stderr
    assert {n: c["ID"] for n, c in containers(project).items()} == before
    project.write(ISOLATED.replace("${GREETING:-hello}", "changed"))
    project.run("up", "-d")
    after = {n: c["ID"] for n, c in containers(project).items()}
    assert after[f"{project.name}-db-1"] == before[f"{project.name}-db-1"]
    assert after[f"{project.name}-web-1"] != before[f"{project.name}-web-1"]
    exec_out = project.run("exec", "-T", "web", "sh", "-c", "echo $GREETING").stdout
    assert exec_out.strip() == "changed"


def test_scale_run_exec_and_down(project) -> None:  # noqa: ANN001
    project.write(ISOLATED)
    project.run("up", "-d", "--scale", "web=3")
    names = sorted(containers(project))
    assert names == sorted([f"{project.name}-db-1"] +
                           [f"{project.name}-web-{n}" for n in (1, 2, 3)])
    project.run("up", "-d", "--scale", "web=1")
    assert f"{project.name}-web-2" not in containers(project)
    out = project.run("exec", "-T", "-e", "X=7", "-u", "1000", "-w", "/tmp", "web",
                      "sh", "-c", "echo $X $(id -u) $(pwd)").stdout
    assert out.split() == ["7", "1000", "/tmp"]
    run = project.run("run", "--rm", "-T", "--no-deps", "web", "sh", "-c", "echo one-off; exit 3",
                      check=False)
    assert run.returncode == 3 and "one-off" in run.stdout
    project.run("down", "-t", "0")
    client = project.docker()
    left = client.containers(all=True, filters={
        "label": f"com.docker.compose.project={project.name}"})
    assert left == []


def test_wait_fails_on_unhealthy_service(project) -> None:  # noqa: ANN001
    project.write("""
services:
  sick:
    image: busybox
    command: sleep 300
    network_mode: none
    healthcheck: {test: ["CMD", "false"], interval: 200ms, retries: 2}
""")
    result = project.run("up", "-d", "--wait", "--wait-timeout", "60", check=False)
    assert result.returncode == 1
    assert f"container {project.name}-sick-1 is unhealthy" in result.stderr


def test_failed_recreate_keeps_the_old_container_running(project) -> None:  # noqa: ANN001
    project.write(ISOLATED)
    project.run("up", "-d")
    old = containers(project)[f"{project.name}-web-1"]["ID"]
    project.write(ISOLATED.replace('command: ["sh", "-c", "echo web',
                                   'working_dir: /nonexistent/file/x\n    command: '
                                   '["/no/such/binary", "-c", "echo web'))
    result = project.run("up", "-d", check=False)
    assert result.returncode == 1
    assert f"{project.name}-web-1" in result.stderr
    now = containers(project)[f"{project.name}-web-1"]
    assert now["ID"] == old and now["State"] == "running"


def test_bad_input_is_refused_before_anything_runs(project) -> None:  # noqa: ANN001
    project.write("services:\n  a:\n    image: ${NEEDED:?need NEEDED}\n")
    result = project.run("up", "-d", check=False)
    assert result.returncode == 1
    assert "compose.yaml:3: " in result.stderr
    assert "required variable NEEDED is missing a value: need NEEDED" in result.stderr
    project.write("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n"
                  "    image: x\n    depends_on: [a]\n")
    result = project.run("config", check=False)
    assert "dependency cycle detected" in result.stderr
