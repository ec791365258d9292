"""Services that refer to other services' containers (``network_mode``/``ipc``/``pid:
service:NAME``, ``volumes_from``), ``expose`` ranges, bare environment names, external
resources of services not started, and the keys minke refuses at ``up``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

SHARED = """
services:
  app:
    image: busybox
    command: ["sh", "-c", "echo $$SHARED_KEY > /vol/k; sleep 300"]
    environment: {SHARED_KEY: "${KEY:-one}"}
    volumes: [/vol]
    ipc: shareable  # Docker refuses to join a private one
    stop_grace_period: 1s
  side:
    image: busybox
    command: sleep 300
    network_mode: service:app
    ipc: service:app
    volumes_from: [app]
    stop_grace_period: 1s
"""


def namespaces(project, service: str) -> list[str]:  # noqa: ANN001
    return [project.run("exec", "-T", service, "readlink", f"/proc/self/ns/{ns}").stdout
            for ns in ("net", "ipc")]


def test_shared_namespaces_order_and_follow_their_target(project, needs_networks) -> None:  # noqa: ANN001
    project.write(SHARED)
    project.run("up", "-d", "side")  # brings app up first: an implicit dependency
    client = project.docker()
    app = client.inspect_container(f"{project.name}-app-1")
    side = client.inspect_container(f"{project.name}-side-1")
    assert side["HostConfig"]["NetworkMode"] == f"container:{app['Id']}"
    assert side["HostConfig"]["IpcMode"] == f"container:{app['Id']}"
    assert side["HostConfig"]["VolumesFrom"] == [app["Id"]]
    assert namespaces(project, "side") == namespaces(project, "app")
    assert project.run("exec", "-T", "side", "cat", "/vol/k").stdout.strip() == "one"
    # app changes: side, which names app's old container, is recreated with it
    project.write(SHARED.replace("${KEY:-one}", "two"))
    project.run("up", "-d")
    app2 = client.inspect_container(f"{project.name}-app-1")
    side2 = client.inspect_container(f"{project.name}-side-1")
    assert app2["Id"] != app["Id"] and side2["Id"] != side["Id"]
    assert side2["HostConfig"]["NetworkMode"] == f"container:{app2['Id']}"
    assert project.run("exec", "-T", "side", "cat", "/vol/k").stdout.strip() == "two"
    # --no-deps: the target already runs, so side finds it
    project.run("up", "-d", "--no-deps", "--force-recreate", "side")
    side3 = client.inspect_container(f"{project.name}-side-1")
    assert side3["HostConfig"]["NetworkMode"] == f"container:{app2['Id']}"
    project.run("rm", "-s", "-f", "app")
    result = project.run("up", "-d", "--no-deps", "--force-recreate", "side", check=False)
    assert result.returncode == 1
    assert "cannot share a namespace with service app: container missing" in result.stderr


def test_expose_ranges_and_bare_environment(project, needs_networks) -> None:  # noqa: ANN001
    project.write("""
services:
  a:
    image: busybox
    command: sleep 300
    stop_grace_period: 1s
    expose: ["9091-9092", "53/udp"]
    environment: [MAYBE, FROM_CLIENT]
""")
    env = {"FROM_CLIENT": "client-value"}
    project.run("up", "-d", env=env)
    a = project.docker().inspect_container(f"{project.name}-a-1")
    assert set(a["Config"]["ExposedPorts"]) == {"9091/tcp", "9092/tcp", "53/udp"}
    out = project.run("exec", "-T", "a", "env").stdout.splitlines()
    assert "FROM_CLIENT=client-value" in out
    assert not [line for line in out if line.startswith("MAYBE")]


def test_external_resources_are_checked_for_the_services_started(project, needs_networks  # noqa: ANN001
                                                                  ) -> None:
    project.write("""
services:
  uses_ext:
    image: busybox
    command: sleep 300
    networks: [outside]
    volumes: [gone:/g]
  plain:
    image: busybox
    command: sleep 300
    stop_grace_period: 1s
networks:
  outside: {external: true, name: no-such-network-xyz}
volumes:
  gone: {external: true, name: no-such-volume-xyz}
""")
    project.run("up", "-d", "plain")
    assert project.docker().inspect_container(f"{project.name}-plain-1")["State"]["Running"]
    result = project.run("up", "-d", "uses_ext", check=False)
    assert result.returncode == 1
    assert "network no-such-network-xyz declared as external, but could not be found" in \
        result.stderr


def test_use_api_socket_mounts_the_daemon_socket(project) -> None:  # noqa: ANN001
    project.write("services:\n  a:\n    image: busybox\n    command: sleep 300\n"
                  "    network_mode: none\n    stop_grace_period: 1s\n"
                  "    use_api_socket: true\n")
    project.run("up", "-d")
    assert project.run("exec", "-T", "a", "test", "-S", "/var/run/docker.sock",
                       check=False).returncode == 0


@pytest.mark.parametrize(("key", "message"), [
    ("gpus: all", "gpus: could not select device driver"),
    ("models: [llm]", 'service "a" uses models (llm): running AI models needs Docker Model '
                      "Runner"),
    ("provider: {type: cloud-db}", 'provider services are not supported by minke compose '
                                   '(provider type "cloud-db")'),
])
def test_keys_that_cannot_apply_are_refused_at_up(project, key: str, message: str) -> None:  # noqa: ANN001
    project.write(f"services:\n  a:\n    image: busybox\n    network_mode: none\n    {key}\n"
                  "models:\n  llm: {model: ai/smollm2}\n")
    assert project.run("config", "-q").returncode == 0  # accepted by the loader
    result = project.run("up", "-d", check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert project.docker().containers(all=True, filters={
        "label": f"com.docker.compose.project={project.name}"}) == []
