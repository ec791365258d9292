"""Overlay networks and the routing mesh of a real three-node swarm on the cluster
harness: node 0 initialises the swarm on its underlay address, nodes 1 and 2 join it as
workers; services then run across the nodes."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import docker
import pytest
from tests.conftest import unique
from tests.support.cluster import Cluster
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def swarm(cluster: Cluster) -> Iterator[list[docker.DockerClient]]:
    clients = [docker.DockerClient(base_url=n.host, version="1.41", timeout=60)
               for n in cluster.nodes]
    manager = cluster.node(0)
    clients[0].swarm.init(advertise_addr=manager.addr, listen_addr=f"{manager.addr}:2377")
    token = clients[0].swarm.attrs["JoinTokens"]["Worker"]
    for node, client in zip(cluster.nodes[1:], clients[1:], strict=True):
        client.swarm.join(remote_addrs=[f"{manager.addr}:2377"], join_token=token,
                          advertise_addr=node.addr, listen_addr=f"{node.addr}:2377")
    wait_for("three ready nodes", lambda: [
        n.attrs["Status"]["State"] for n in clients[0].nodes.list()] == ["ready"] * 3)
    try:
        yield clients
    finally:
        for client in reversed(clients):
            client.api.leave_swarm(force=True)
            client.close()


def node_ids(clients: list[docker.DockerClient]) -> list[str]:
    return [c.info()["Swarm"]["NodeID"] for c in clients]


def running_tasks(client: docker.DockerClient, service: str, count: int) -> list[dict]:
    def ready() -> list[dict] | None:
        tasks = [t for t in client.api.tasks(filters={"service": service})
                 if t["Status"]["State"] == "running"]
        return tasks if len(tasks) == count else None
    try:
        return wait_for(f"{count} running tasks of {service}", ready)
    except AssertionError:
        states = [(t.get("NodeID", ""), t["Status"]["State"], t["Status"].get("Err", ""))
                  for t in client.api.tasks(filters={"service": service})]
        raise AssertionError(f"{count} running tasks of {service} expected: {states}") \
            from None


def address(task: dict, network_id: str) -> str:
    for attachment in task["NetworksAttachments"]:
        if attachment["Network"]["ID"] == network_id:
            return attachment["Addresses"][0].split("/")[0]
    raise AssertionError(f"task {task['ID']} has no address on {network_id}")


def task_container(client: docker.DockerClient, task: dict) -> docker.models.containers.Container:
    return wait_for("the task's container", lambda: next(iter(client.containers.list(
        filters={"label": f"com.docker.swarm.task.id={task['ID']}"})), None))


def test_an_overlay_network_is_a_vxlan_on_every_node(cluster: Cluster, swarm) -> None:  # type: ignore[no-untyped-def]
    name = unique("ov")
    network = swarm[0].networks.create(name, driver="overlay", attachable=True)
    try:
        vni = int(network.attrs["Options"]["com.docker.network.driver.overlay.vxlanid_list"])
        assert vni >= 4097
        # Nodes realise a network when a task of theirs needs it; the manager at once.
        link = json.loads(cluster.node(0).run("ip", "-d", "-j", "link", "show",
                                              f"vx-{vni:06x}").stdout)[0]
        data = link["linkinfo"]["info_data"]
        assert (data["id"], data["port"], data["local"]) == (vni, 4789, cluster.node(0).addr)
        assert link["mtu"] == 1450
    finally:
        network.remove()


def test_encrypted_overlay_networks_are_refused(swarm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(docker.errors.APIError) as caught:
        swarm[0].networks.create(unique("enc"), driver="overlay",
                                 options={"encrypted": ""})
    assert caught.value.status_code == 501
    assert "encrypted" in str(caught.value.explanation)


def test_tasks_on_different_nodes_reach_each_other_by_ip_and_name(swarm) -> None:  # type: ignore[no-untyped-def]
    net, name = unique("ov"), unique("web")
    network = swarm[0].networks.create(net, driver="overlay")
    service = swarm[0].services.create(
        "busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], name=name, networks=[net],
        mode=docker.types.ServiceMode("global"))
    try:
        tasks = running_tasks(swarm[0], name, 3)
        ids = node_ids(swarm)
        by_node = {t["NodeID"]: t for t in tasks}
        assert set(by_node) == set(ids)
        first = task_container(swarm[0], by_node[ids[0]])
        for i in (1, 2):
            other = task_container(swarm[i], by_node[ids[i]])
            ip = address(by_node[ids[i]], network.id)
            # Every node programs its peers from its own copy of the state: soon, not at
            # the instant the manager sees the task running.
            got = wait_for(f"task on node {i} at {ip}",
                           lambda ip=ip: fetch(first, f"http://{ip}/hostname"), deadline=30)
            assert got == other.id[:12]
        # Names: tasks.<service> lists every task, <service> is the VIP: the same answers
        # on every node.
        vip = next(v["Addr"].split("/")[0] for v in swarm[0].api.inspect_service(name)[
            "Endpoint"]["VirtualIPs"] if v["NetworkID"] == network.id)
        everyone = {address(task, network.id) for task in tasks}
        for i in range(3):
            here = task_container(swarm[i], by_node[ids[i]])
            assert wait_for(f"tasks.{name} on node {i}",
                            lambda here=here: lookup(here, f"tasks.{name}") == everyone)
            assert lookup(here, name) == {vip}
            hosts = {fetch(here, f"http://{name}/hostname") for _ in range(6)}
            assert len(hosts) == 3  # round robin over the three nodes' tasks
    finally:
        service.remove()  # the network goes once the tasks left it
        wait_for("the network removable", lambda: _removed(network))


def lookup(container: docker.models.containers.Container, name: str) -> set[str]:
    """The IPv4 addresses the embedded DNS gives ``name`` in ``container``."""
    code, out = container.exec_run(["nslookup", name, "127.0.0.11"])
    if code != 0:
        return set()
    answers = out.decode().split("Name:", 1)[-1] if "Name:" in out.decode() else ""
    return {w for w in answers.split() if w.count(".") == 3 and w.replace(".", "").isdigit()}


def fetch(container: docker.models.containers.Container, url: str) -> str:
    """The body busybox wget gets in ``container`` ("" on failure)."""
    code, out = container.exec_run(["wget", "-q", "-O-", url])
    return out.decode().strip() if code == 0 else ""


def _removed(network) -> bool:  # type: ignore[no-untyped-def]
    try:
        network.remove()
    except docker.errors.APIError:
        return False
    return True


def test_a_published_port_answers_on_every_node(cluster: Cluster, swarm) -> None:  # type: ignore[no-untyped-def]
    name = unique("pub")
    ids = node_ids(swarm)
    service = swarm[0].services.create(
        "busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], name=name,
        constraints=[f"node.id=={ids[1]}"],
        endpoint_spec=docker.types.EndpointSpec(ports={18080: 80}))
    try:
        task = running_tasks(swarm[0], name, 1)[0]
        assert task["NodeID"] == ids[1]
        hostname = task_container(swarm[1], task).id[:12]
        for node in cluster.nodes:  # nodes 0 and 2 run none of its tasks
            got = wait_for(f"port 18080 on node {node.index}", lambda node=node: subprocess.run(
                ["curl", "-s", "-m", "3", f"http://{node.addr}:18080/hostname"],
                capture_output=True, text=True).stdout.strip())
            assert got == hostname
    finally:
        service.remove()


def test_a_rolling_update_drops_no_request_through_another_node(  # type: ignore[no-untyped-def]
        cluster: Cluster, swarm) -> None:
    """Tasks on nodes 1 and 2 are replaced one by one (start-first) while the host asks
    node 0, which runs none of them, over and over: a task leaves every node's balancing
    before it stops, and joins once healthy."""
    name = unique("roll")
    for client in swarm[1:]:
        client.images.get("busybox:latest").tag("busybox", "v2")
    service = swarm[0].services.create(
        "busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], name=name,
        constraints=["node.role==worker"], mode=docker.types.ServiceMode("replicated", 2),
        endpoint_spec=docker.types.EndpointSpec(ports={18090: 80}),
        stop_grace_period=2 * 10**9,
        healthcheck=docker.types.Healthcheck(
            test=["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/hostname"],
            interval=10**9, start_period=10**9))
    url = f"http://{cluster.node(0).addr}:18090/hostname"
    try:
        running_tasks(swarm[0], name, 2)
        wait_for("the mesh answering", lambda: get(url) != "")
        before = {t["ID"] for t in running_tasks(swarm[0], name, 2)}
        service.update(image="busybox:v2", env=["V=2"],
                       update_config=docker.types.UpdateConfig(order="start-first"))
        ok, failed, seen = 0, 0, set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = get(url)
            if body:
                ok, seen = ok + 1, seen | {body}
            else:
                failed += 1
            tasks = [t for t in swarm[0].api.tasks(filters={"service": name})
                     if t["Status"]["State"] == "running" and t["ID"] not in before]
            if len(tasks) == 2 and service.reload() is None and \
                    (service.attrs.get("UpdateStatus") or {}).get("State") == "completed":
                break
        assert ok > 0 and failed == 0, (ok, failed)
        assert len(seen) >= 3  # old tasks answered, then new ones
    finally:
        service.remove()


def get(url: str) -> str:
    """The body of ``url`` ("" on any failure), with a fresh connection."""
    try:
        with urllib.request.urlopen(url, timeout=3) as reply:
            return reply.read().decode().strip()
    except OSError:
        return ""


def test_a_restarted_node_carries_the_overlay_again(cluster: Cluster, swarm) -> None:  # type: ignore[no-untyped-def]
    """minked on node 2 restarts (its containers keep running): its networks are restored
    before it knows its data path, then get their VXLAN port, MTU and peers back."""
    name = unique("back")
    ids = node_ids(swarm)
    service = swarm[0].services.create(
        "busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], name=name,
        constraints=[f"node.id=={ids[1]}"],
        endpoint_spec=docker.types.EndpointSpec(ports={18095: 80}))
    url = f"http://{cluster.node(2).addr}:18095/hostname"
    try:
        running_tasks(swarm[0], name, 1)
        wait_for("the mesh on node 2", lambda: get(url) != "")
        cluster.restart(2)
        wait_for("node 2 ready again", lambda: [
            n.attrs["Status"]["State"] for n in swarm[0].nodes.list()] == ["ready"] * 3)
        assert wait_for("the mesh on node 2 after its restart", lambda: get(url))
        ingress = json.loads(cluster.node(2).run(
            "ip", "-d", "-j", "link", "show", "vx-001001").stdout)[0]
        assert ingress["mtu"] == 1450
        bridge = json.loads(cluster.node(2).run(
            "ip", "-j", "link", "show", ingress["master"]).stdout)[0]
        assert bridge["mtu"] == 1450
    finally:
        service.remove()
