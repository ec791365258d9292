"""Swarm services through the real docker CLI and docker-py on one minked: services become
tasks that run as busybox containers; scale, replacement of a removed task container,
restart conditions, global services, unsatisfiable constraints, rolling updates
(stop-first and start-first), rollback, minked SIGKILL and restart, and removal."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from tests.conftest import Daemon, import_busybox, private_daemon, start_daemon
from tests.support.cli import docker_text, needs_docker_cli
from tests.support.polling import wait_for
from tests.support.swarm import swarm_client

pytestmark = [pytest.mark.compat, pytest.mark.integration]

SLEEP = ["sleep", "600"]
GRACE = 1_000_000_000  # sleep as PID 1 ignores SIGTERM: don't wait Docker's 10 s for it


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with private_daemon("mk-svc-") as d:
        import_busybox(d, busybox_tar)
        yield d


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    with swarm_client(daemon) as c:
        yield c


def task_containers(client: docker.DockerClient, service_id: str,
                    running: bool = True) -> list[dict[str, Any]]:
    """The service's containers as ``GET /containers/json`` lists them (no inspect of each:
    one may go between the listing and the inspect)."""
    return client.api.containers(all=not running,
                                 filters={"label": f"com.docker.swarm.service.id={service_id}"})


def inspect_containers(client: docker.DockerClient, service_id: str) -> list[Any]:
    return [client.containers.get(c["Id"]) for c in task_containers(client, service_id)]


def running_tasks(service: Any) -> list[dict[str, Any]]:
    return [t for t in service.tasks() if t["Status"]["State"] == "running"
            and t["DesiredState"] == "running"]


def converged(client: docker.DockerClient, service: Any, n: int) -> bool:
    tasks = running_tasks(service)
    return len(tasks) == n and len(task_containers(client, service.id)) == n and \
        len([t for t in service.tasks() if t["DesiredState"] == "running"]) == n


def test_replicated_service_runs_scales_and_is_removed(client: docker.DockerClient) -> None:
    service = client.services.create("busybox", SLEEP, name="web", stop_grace_period=GRACE,
                                     mode=docker.types.ServiceMode("replicated", replicas=3),
                                     labels={"tier": "front"},
                                     hostname="{{.Service.Name}}-{{.Task.Slot}}",
                                     env=["SLOT={{.Task.Slot}}"])
    wait_for("3 running tasks", lambda: converged(client, service, 3))
    containers = inspect_containers(client, service.id)
    names = sorted(c.name for c in containers)
    tasks = {t["ID"]: t for t in service.tasks()}
    for c in containers:
        labels = c.labels
        task = tasks[labels["com.docker.swarm.task.id"]]
        assert c.name == f"web.{task['Slot']}.{task['ID']}"
        assert labels["com.docker.swarm.service.name"] == "web"
        assert labels["com.docker.swarm.task.name"] == c.name
        assert labels["com.docker.swarm.node.id"] == task["NodeID"]
        assert c.attrs["Config"]["Hostname"] == f"web-{task['Slot']}"
        assert f"SLOT={task['Slot']}" in c.attrs["Config"]["Env"]
        assert task["Status"]["ContainerStatus"]["ContainerID"] == c.id
        assert "bridge" in c.attrs["NetworkSettings"]["Networks"]
    assert sorted(t["Slot"] for t in tasks.values()) == [1, 2, 3], names
    assert client.services.get("web").id == service.id
    assert [s.id for s in client.services.list(filters={"label": "tier=front"})] == [service.id]
    assert client.services.list(filters={"label": "tier=back"}) == []

    # docker-py sends the task template back with SwarmKit's defaults and zero values
    # filled in: that is the same spec, and the running tasks stay.
    service.scale(5)
    wait_for("5 running tasks", lambda: converged(client, service, 5))
    assert set(tasks) <= {t["ID"] for t in running_tasks(service)}
    service.reload()
    service.scale(1)
    wait_for("1 running task", lambda: converged(client, service, 1))
    assert [t["Slot"] for t in running_tasks(service)] == [1]

    service.remove()
    wait_for("the task containers gone", lambda: not task_containers(client, service.id, False))
    assert client.services.list() == []


def test_removed_task_container_is_replaced(client: docker.DockerClient) -> None:
    service = client.services.create(
        "busybox", SLEEP, name="phoenix",
        restart_policy=docker.types.RestartPolicy(condition="any", delay=0))
    wait_for("1 running task", lambda: converged(client, service, 1))
    [old] = running_tasks(service)
    client.api.remove_container(old["Status"]["ContainerStatus"]["ContainerID"], force=True)
    wait_for("a new task", lambda: any(t["ID"] != old["ID"] for t in running_tasks(service)))
    wait_for("1 running task", lambda: converged(client, service, 1))
    dead = next(t for t in service.tasks() if t["ID"] == old["ID"])
    assert dead["DesiredState"] == "shutdown"
    assert dead["Status"]["State"] == "failed"
    assert dead["Status"]["Err"] == "task: non-zero exit (137)"
    [new] = running_tasks(service)
    assert new["Slot"] == old["Slot"]


def test_restart_condition_none_leaves_a_completed_task(client: docker.DockerClient) -> None:
    service = client.services.create(
        "busybox", ["true"], name="once",
        restart_policy=docker.types.RestartPolicy(condition="none"))
    wait_for("the task complete", lambda: [t for t in service.tasks()
                                          if t["Status"]["State"] == "complete"])
    time.sleep(1)  # the orchestrator has had its passes: still the one task
    [task] = service.tasks()
    assert task["Status"]["State"] == "complete" and task["DesiredState"] == "shutdown"
    assert task["Status"]["ContainerStatus"]["ExitCode"] == 0


def test_on_failure_with_max_attempts(client: docker.DockerClient) -> None:
    service = client.services.create(
        "busybox", ["sh", "-c", "exit 3"], name="flaky",
        restart_policy=docker.types.RestartPolicy(condition="on-failure", delay=0,
                                                  max_attempts=2))
    wait_for("3 failed tasks", lambda: len([t for t in service.tasks()
                                            if t["Status"]["State"] == "failed"]) == 3)
    time.sleep(1)
    tasks = service.tasks()
    assert len(tasks) == 3
    assert {t["Status"]["Err"] for t in tasks} == {"task: non-zero exit (3)"}
    assert {t["Slot"] for t in tasks} == {1}


def test_global_service_runs_one_task_per_node(client: docker.DockerClient) -> None:
    service = client.services.create("busybox", SLEEP, name="everywhere",
                                     mode=docker.types.ServiceMode("global"))
    wait_for("1 running task", lambda: converged(client, service, 1))
    [task] = service.tasks()
    node_id = client.info()["Swarm"]["NodeID"]
    assert task["NodeID"] == node_id
    [c] = inspect_containers(client, service.id)
    assert c.name == f"everywhere.{node_id}.{task['ID']}"


def test_unsatisfiable_constraint_keeps_tasks_pending(client: docker.DockerClient) -> None:
    service = client.services.create("busybox", SLEEP, name="nowhere",
                                     constraints=["node.labels.zone==mars"])
    pending = wait_for("a pending task", lambda: [
        t for t in service.tasks() if t["Status"]["State"] == "pending"
        and t["Status"].get("Err")])
    assert pending[0]["Status"]["Err"] == \
        "no suitable node (scheduling constraints not satisfied on 1 node)"
    assert "NodeID" not in pending[0] or not pending[0]["NodeID"]
    assert not task_containers(client, service.id, running=False)
    node = client.nodes.get(client.info()["Swarm"]["NodeID"])
    spec = node.attrs["Spec"]
    spec["Labels"] = {"zone": "mars"}
    node.update(spec)
    wait_for("the task running", lambda: converged(client, service, 1))


@pytest.mark.parametrize("order", ["stop-first", "start-first"])
def test_update_image_replaces_every_task(client: docker.DockerClient, order: str) -> None:
    client.api.tag("busybox:latest", "busybox", "v2")
    service = client.services.create(
        "busybox:latest", SLEEP, name=f"roll-{order}", stop_grace_period=GRACE,
        mode=docker.types.ServiceMode("replicated", replicas=3),
        update_config=docker.types.UpdateConfig(parallelism=2, delay=0, order=order))
    wait_for("3 running tasks", lambda: converged(client, service, 3))
    before = {t["ID"] for t in running_tasks(service)}
    service.update(image="busybox:v2")
    wait_for("the update completed", lambda: (
        client.services.get(service.id).attrs.get("UpdateStatus", {}).get("State")
        == "completed"))
    wait_for("3 running tasks", lambda: converged(client, service, 3))
    after = running_tasks(service)
    assert not before & {t["ID"] for t in after}
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in after} == {"busybox:v2"}
    assert {c.attrs["Config"]["Image"] for c in inspect_containers(client, service.id)} == \
        {"busybox:v2"}
    assert sorted(t["Slot"] for t in after) == [1, 2, 3]
    old = [t for t in service.tasks() if t["ID"] in before]
    assert {(t["DesiredState"], t["Status"]["State"]) for t in old} == {
        ("shutdown", "shutdown")}


def test_stale_version_duplicate_name_and_bad_specs(client: docker.DockerClient) -> None:
    api = client.api
    service = client.services.create("busybox", SLEEP, name="one")
    with pytest.raises(docker.errors.APIError) as exc:
        client.services.create("busybox", SLEEP, name="one")
    assert exc.value.status_code == 409
    assert "service one already exists" in exc.value.explanation
    spec = api.inspect_service(service.id)
    version = spec["Version"]["Index"]
    api.update_service(service.id, version, task_template=spec["Spec"]["TaskTemplate"],
                       name="one", labels={"x": "1"})
    with pytest.raises(docker.errors.APIError) as exc:
        api.update_service(service.id, version, task_template=spec["Spec"]["TaskTemplate"],
                           name="one")
    assert exc.value.status_code == 500
    assert exc.value.explanation == "rpc error: code = Unknown desc = update out of sequence"
    bad = [
        ({"Name": "bad name", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}, 400),
        ({"Name": "g", "Mode": {"Global": {}, "Replicated": {"Replicas": 2}},
          "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}, 400),
        ({"Name": "noimage", "TaskTemplate": {"ContainerSpec": {}}}, 400),
        ({"Name": "c", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"},
                                        "Placement": {"Constraints": ["node.foo"]}}}, 400),
    ]
    for body, status in bad:
        r = api._post_json(api._url("/services/create"), data=body)
        assert r.status_code == status, (body, r.text)
    assert [s.name for s in client.services.list()] == ["one"]
    r = api._post_json(api._url("/services/create"), data={
        "Name": "ghost", "TaskTemplate": {"ContainerSpec": {"Image": "nosuchimage:1"}}})
    assert r.status_code == 201
    ghost = client.services.get("ghost")
    rejected = wait_for("a rejected task", lambda: [
        t for t in ghost.tasks() if t["Status"]["State"] == "rejected"])
    assert "No such image: nosuchimage:1" in rejected[0]["Status"]["Err"]


@needs_docker_cli
def test_docker_cli_service_verbs(client: docker.DockerClient, daemon: Daemon) -> None:
    def cli(*args: str) -> str:
        return docker_text(daemon, *args).stdout

    create = docker_text(daemon, "service", "create", "--name", "cli", "--replicas", "2",
                         "--stop-grace-period", "1s", "busybox", "sleep", "600")
    service_id = create.stdout.strip().splitlines()[0]
    assert f"verify: Service {service_id} converged" in create.stdout, create
    ls = cli("service", "ls")
    assert "cli" in ls and "2/2" in ls and "replicated" in ls, ls
    ps = cli("service", "ps", "cli")
    assert ps.count("Running") >= 2 and "cli.1" in ps and "cli.2" in ps, ps
    docker_text(daemon, "service", "scale", "cli=3", "-d")
    service = client.services.get(service_id)
    wait_for("3 running tasks", lambda: converged(client, service, 3))
    docker_text(daemon, "service", "update", "-d", "--env-add", "A=1", "cli")
    wait_for("A=1 everywhere", lambda: converged(client, service, 3) and all(
        "A=1" in t["Spec"]["ContainerSpec"].get("Env", []) for t in running_tasks(service)))
    docker_text(daemon, "service", "rollback", "-d", "cli")
    wait_for("A=1 gone", lambda: client.services.get(service_id).attrs["UpdateStatus"][
        "State"] == "rollback_completed")
    wait_for("rolled back", lambda: converged(client, service, 3) and all(
        "A=1" not in (t["Spec"]["ContainerSpec"].get("Env") or [])
        for t in running_tasks(service)))
    inspect = json.loads(cli("service", "inspect", "cli"))[0]
    assert inspect["ID"] == service_id
    docker_text(daemon, "service", "rm", "cli")
    wait_for("containers gone", lambda: not task_containers(client, service_id, False))


def test_tasks_survive_minked_sigkill(client: docker.DockerClient, daemon: Daemon) -> None:
    service = client.services.create("busybox", SLEEP, name="durable",
                                     mode=docker.types.ServiceMode("replicated", replicas=3))
    wait_for("3 running tasks", lambda: converged(client, service, 3))
    before = sorted((t["ID"], t["Status"]["ContainerStatus"]["ContainerID"])
                    for t in running_tasks(service))
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait()
    restarted = start_daemon(daemon.root)
    daemon.process = restarted.process
    c = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
    service = c.services.get("durable")
    time.sleep(2)  # the reconcilers and the agent have resumed and had their passes
    wait_for("3 running tasks", lambda: converged(c, service, 3))
    after = sorted((t["ID"], t["Status"]["ContainerStatus"]["ContainerID"])
                   for t in running_tasks(service))
    assert after == before
    assert len(service.tasks()) == 3
    assert len(task_containers(c, service.id, running=False)) == 3
    c.close()


@needs_docker_cli
def test_minke_service_verbs_and_logs(client: docker.DockerClient, daemon: Daemon) -> None:
    from tests.integration.test_cli import minke

    def ok(*args: str) -> str:
        r = minke(daemon, *args)
        assert r.returncode == 0, f"minke {' '.join(args)}: {r.stderr}"
        return r.stdout

    out = ok("service", "create", "--name", "chatty", "--replicas", "2",
             "--placement-pref", "spread=node.labels.zone",
             "--stop-grace-period", "1s", "--update-monitor", "200ms", "--rollback-monitor",
             "200ms", "-e", "WHO=task{{.Task.Slot}}", "busybox", "sh",
             "-c", 'echo hello from $WHO; echo oops >&2; sleep 600')
    service_id = out.splitlines()[0]
    assert out.splitlines()[-1] == f"verify: Service {service_id} converged"
    assert ok("service", "ls") == docker_text(daemon, "service", "ls").stdout
    ps = ok("service", "ps", "chatty")
    assert ps.splitlines()[0].split() == ["ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE",
                                          "CURRENT", "STATE", "ERROR", "PORTS"]
    assert "chatty.1" in ps and "chatty.2" in ps and ps.count("Running") == 4
    service = client.services.get(service_id)
    wait_for("both tasks logged", lambda: len(docker_text(
        daemon, "service", "logs", "chatty").stdout.splitlines()) == 2)
    docker_logs = docker_text(daemon, "service", "logs", "chatty")
    r = minke(daemon, "service", "logs", "chatty")
    assert sorted(r.stdout.splitlines()) == sorted(docker_logs.stdout.splitlines())
    assert sorted(r.stderr.splitlines()) == sorted(docker_logs.stderr.splitlines())
    tasks = {t["Slot"]: t for t in running_tasks(service)}
    assert f"chatty.1.{tasks[1]['ID'][:12]}@" in r.stdout
    assert "| hello from task1" in r.stdout and "| hello from task2" in r.stdout
    assert "| oops" in r.stderr
    task_logs = docker_text(daemon, "service", "logs", "--raw", tasks[2]["ID"]).stdout
    assert task_logs == "hello from task2\n"

    assert ok("service", "scale", "chatty=3").startswith("chatty scaled to 3\n")
    assert len(running_tasks(service)) == 3
    ok("service", "update", "--env-add", "EXTRA=1", "chatty")
    assert all("EXTRA=1" in t["Spec"]["ContainerSpec"]["Env"] for t in running_tasks(service))
    ok("service", "rollback", "chatty")
    assert all("EXTRA=1" not in t["Spec"]["ContainerSpec"]["Env"]
               for t in running_tasks(service))
    inspected = json.loads(ok("service", "inspect", "chatty"))[0]
    assert inspected["ID"] == service_id
    assert inspected["Spec"]["TaskTemplate"]["Placement"]["Preferences"] == [
        {"Spread": {"SpreadDescriptor": "node.labels.zone"}}]
    assert ok("service", "rm", "chatty") == "chatty\n"
    wait_for("containers gone", lambda: not task_containers(client, service_id, False))


def test_service_events(client: docker.DockerClient) -> None:
    since = time.time()
    service = client.services.create("busybox", SLEEP, name="noisy", stop_grace_period=GRACE)
    wait_for("1 running task", lambda: converged(client, service, 1))
    client.api.tag("busybox:latest", "busybox", "v3")
    service.update(image="busybox:v3")
    wait_for("the update completed", lambda: (
        client.services.get(service.id).attrs.get("UpdateStatus", {}).get("State")
        == "completed"))
    service.remove()
    wait_for("the container gone", lambda: not task_containers(client, service.id, False))
    events = list(client.events(since=since, until=time.time() + 1, decode=True,
                                filters={"type": "service"}))
    assert {e["scope"] for e in events} == {"swarm"}
    assert {e["Actor"]["ID"] for e in events} == {service.id}
    actions = [e["Action"] for e in events]
    assert actions[0] == "create" and actions[-1] == "remove"
    assert set(actions[1:-1]) == {"update"}
    attrs = [e["Actor"]["Attributes"] for e in events]
    assert {"name": "noisy", "image.old": "busybox", "image.new": "busybox:v3",
            "updatestate.new": "UPDATING"} in attrs
    assert {"name": "noisy", "updatestate.old": "UPDATING",
            "updatestate.new": "COMPLETED"} in attrs


def test_secrets_and_configs_in_tasks(client: docker.DockerClient, daemon: Daemon) -> None:
    secret = client.secrets.create(name="pw", data=b"hunter2")
    config = client.configs.create(name="conf", data=b"key=value")
    service = client.services.create(
        "busybox", ["sh", "-c", "cat /run/secrets/pw /etc/app.conf; sleep 600"], name="reader",
        stop_grace_period=GRACE,
        secrets=[docker.types.SecretReference(secret.id, "pw")],
        configs=[docker.types.ConfigReference(config.id, "conf", filename="/etc/app.conf",
                                              mode=0o440)])
    wait_for("1 running task", lambda: converged(client, service, 1))
    [c] = inspect_containers(client, service.id)
    wait_for("the files read", lambda: c.logs() == b"hunter2key=value")
    assert c.exec_run(["stat", "-c", "%a", "/etc/app.conf"]).output == b"440\n"
    [task] = running_tasks(service)
    files = daemon.root / "exec" / "swarm" / "tasks" / task["ID"]
    assert files.is_dir()
    with pytest.raises(docker.errors.APIError) as exc:
        secret.remove()
    assert "in use by the following service: reader" in exc.value.explanation
    service.remove()
    wait_for("the container gone", lambda: not task_containers(client, service.id, False))
    wait_for("the task's files released", lambda: not files.exists())
    secret.remove()
    r = client.api._post_json(client.api._url("/services/create"), data={
        "Name": "missing", "TaskTemplate": {"ContainerSpec": {
            "Image": "busybox", "Secrets": [{"SecretID": "nosuch", "SecretName": "nosuch",
                                             "File": {"Name": "x"}}]}}})
    assert r.status_code == 400 and "secret not found: nosuch" in r.json()["message"]
    assert client.services.list() == []


def test_unhealthy_task_is_failed_and_replaced(client: docker.DockerClient) -> None:
    service = client.services.create(
        "busybox", SLEEP, name="sickly", stop_grace_period=GRACE,
        healthcheck=docker.types.Healthcheck(test=["CMD", "false"], interval=GRACE // 4,
                                             timeout=GRACE, retries=1),
        restart_policy=docker.types.RestartPolicy(condition="any", delay=0))
    failed = wait_for("an unhealthy task failed and shut down", lambda: [
        t for t in service.tasks() if t["Status"]["State"] == "failed"
        and t["DesiredState"] == "shutdown"])
    assert failed[0]["Status"]["Err"] == "container unhealthy"
    wait_for("a replacement", lambda: any(t["ID"] != failed[0]["ID"] and
                                          t["DesiredState"] == "running"
                                          for t in service.tasks()))
    container_id = failed[0]["Status"]["ContainerStatus"]["ContainerID"]
    wait_for("the unhealthy container stopped", lambda: not client.api.inspect_container(
        container_id)["State"]["Running"])


@needs_docker_cli
def test_docker_cli_mounts_resources_and_templates(client: docker.DockerClient,
                                                   daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "hello").write_text("from the host\n")
    out = docker_text(
        daemon, "service", "create", "-d", "--name", "mounts", "--stop-grace-period", "1s",
        "--mount", f"type=bind,source={tmp_path},target=/host,readonly",
        "--mount", "type=volume,source=data-{{.Task.Slot}},target=/data",
        "--mount", "type=tmpfs,target=/scratch",
        "--limit-memory", "64m", "--limit-cpu", "0.5", "--reserve-memory", "16m",
        "--hostname", "{{.Node.Hostname}}-{{.Service.Name}}",
        "--container-label", "role=worker", "busybox", "sleep", "600")
    service = client.services.get(out.stdout.strip())
    wait_for("1 running task", lambda: converged(client, service, 1))
    [c] = inspect_containers(client, service.id)
    host = c.attrs["HostConfig"]
    assert host["Memory"] == 64 << 20 and host["NanoCpus"] == 500_000_000
    mounts = {m["Destination"]: m for m in c.attrs["Mounts"]}
    assert mounts["/host"]["Type"] == "bind" and mounts["/host"]["RW"] is False
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == "data-1"
    assert c.exec_run(["cat", "/host/hello"]).output == b"from the host\n"
    assert b"/scratch" in c.exec_run(["grep", "tmpfs", "/proc/mounts"]).output
    hostname = client.info()["Name"]
    assert c.attrs["Config"]["Hostname"] == f"{hostname}-mounts"
    assert c.labels["role"] == "worker"
    service.remove()
    wait_for("the container gone", lambda: not task_containers(client, service.id, False))
