"""Standalone containers on an attachable overlay network of a three-node swarm (node 0
the manager, nodes 1 and 2 workers): each gets its address from the cluster through a
network-attachment task, reaches containers and service tasks on other nodes by address
and by name, and gives the address back when it goes."""

from __future__ import annotations

from typing import Any

import docker
import pytest
from tests.conftest import unique
from tests.integration.cluster.test_swarm_overlay import (  # noqa: F401 (the fixture)
    fetch,
    lookup,
    node_ids,
    running_tasks,
    swarm,
    task_container,
)
from tests.support.cluster import Cluster
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/etc"]


def attachment_tasks(client: docker.DockerClient, container_id: str) -> list[dict]:
    """The tasks the cluster holds for the standalone container's attachments."""
    return [t for t in client.api.tasks()
            if (t["Spec"].get("NetworkAttachmentSpec") or {}).get("ContainerID")
            == container_id]


def overlay(clients: list[docker.DockerClient], prefix: str, *, attachable: bool = True
            ) -> tuple[str, Any]:
    """A new overlay network made on the manager (node 0), once every node has realised
    it (workers do once their copy of the state has it): its name and the network."""
    net = unique(prefix)
    network = clients[0].networks.create(net, driver="overlay", attachable=attachable)
    for i, client in enumerate(clients):
        wait_for(f"network {net} on node {i}", lambda c=client: c.networks.list(names=[net]))
    return net, network


def ip_on(container: docker.models.containers.Container, net: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]


def test_standalone_containers_reach_each_other_and_services_across_nodes(  # type: ignore[no-untyped-def]
        swarm) -> None:  # noqa: F811
    svc = unique("web")
    net, network = overlay(swarm, "att")
    ids = node_ids(swarm)
    service = swarm[0].services.create("busybox", HTTPD, name=svc, networks=[net])
    containers = []
    try:
        # one on a worker (asks the manager over its session's mTLS), one on the manager
        on_worker = swarm[1].containers.run("busybox", HTTPD, name=unique("w"),
                                            network=net, detach=True)
        containers.append((swarm[1], on_worker))
        on_manager = swarm[0].containers.run("busybox", HTTPD, name=unique("m"),
                                             network=net, detach=True)
        containers.append((swarm[0], on_manager))
        worker_ip, manager_ip = ip_on(on_worker, net), ip_on(on_manager, net)
        assert worker_ip != manager_ip

        # Each has an attachment task on its own node, at the address its engine gave it.
        for node, container, ip in ((1, on_worker, worker_ip), (0, on_manager, manager_ip)):
            tasks = attachment_tasks(swarm[0], container.id)
            assert len(tasks) == 1, tasks
            task = tasks[0]
            assert task["NodeID"] == ids[node]
            assert task["Status"]["State"] == "running"
            assert [a["Network"]["ID"] for a in task["NetworksAttachments"]] == [network.id]
            assert task["NetworksAttachments"][0]["Addresses"][0].split("/")[0] == ip
            assert container.name in task["NetworksAttachments"][0]["Aliases"]

        # By address and by name, both ways (the other node's name comes from the state).
        assert wait_for("the worker's container from the manager's", lambda: fetch(
            on_manager, f"http://{worker_ip}/hostname"), deadline=30) == on_worker.id[:12]
        assert fetch(on_worker, f"http://{manager_ip}/hostname") == on_manager.id[:12]
        assert wait_for("the worker's container by name", lambda: lookup(
            on_manager, on_worker.name) == {worker_ip})
        assert wait_for("the manager's container by name", lambda: lookup(
            on_worker, on_manager.name) == {manager_ip})
        assert fetch(on_manager, f"http://{on_worker.name}/hostname") == on_worker.id[:12]
        assert fetch(on_worker, f"http://{on_manager.name}/hostname") == on_manager.id[:12]

        # The service: its task answers through the VIP from both, wherever it runs, and
        # the task reaches the standalone containers by name.
        task = running_tasks(swarm[0], svc, 1)[0]
        node = ids.index(task["NodeID"])
        backend = task_container(swarm[node], task)
        for container in (on_worker, on_manager):
            assert wait_for(f"{svc} from {container.name}", lambda c=container: fetch(
                c, f"http://{svc}/hostname"), deadline=30) == backend.id[:12]
        assert wait_for("the worker's container from the task", lambda: fetch(
            backend, f"http://{on_worker.name}/hostname"), deadline=30) == on_worker.id[:12]

        # Gone: the attachment tasks too, and the addresses are free for others.
        for _, container in containers:
            container.remove(force=True)
        containers.clear()
        for container in (on_worker, on_manager):
            wait_for("the attachment task removed",
                     lambda c=container: attachment_tasks(swarm[0], c.id) == [])
        api = swarm[2].api  # the other worker takes the worker's container's address
        created = api.create_container(
            "busybox", HTTPD, name=unique("again"),
            networking_config=api.create_networking_config(
                {net: api.create_endpoint_config(ipv4_address=worker_ip)}))
        again = swarm[2].containers.get(created["Id"])
        containers.append((swarm[2], again))
        again.start()
        assert ip_on(again, net) == worker_ip
        assert attachment_tasks(swarm[0], again.id)[0]["NodeID"] == ids[2]
    finally:
        for _, container in containers:
            container.remove(force=True)
        service.remove()
        wait_for("the network removable", lambda: _removable(network))


def test_network_disconnect_detaches(swarm) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    net, network = overlay(swarm, "att")
    container = swarm[1].containers.run("busybox", ["sleep", "300"], name=unique("d"),
                                        detach=True)
    try:
        swarm[1].networks.get(network.id).connect(container)
        assert len(attachment_tasks(swarm[0], container.id)) == 1
        # the manager keeps the network while another node's container is on it
        with pytest.raises(docker.errors.APIError, match="is in use by task"):
            network.remove()
        swarm[1].networks.get(network.id).disconnect(container)
        assert attachment_tasks(swarm[0], container.id) == []
    finally:
        container.remove(force=True)
        wait_for("the network removable", lambda: _removable(network))


def test_a_network_that_is_not_attachable_refuses_standalone_containers(  # type: ignore[no-untyped-def]
        swarm) -> None:  # noqa: F811
    net, network = overlay(swarm, "ov", attachable=False)
    try:
        for client in (swarm[0], swarm[1]):
            with pytest.raises(docker.errors.APIError) as caught:
                client.containers.run("busybox", ["true"], network=net, remove=True)
            assert f"Could not attach to network {net}: rpc error: code = PermissionDenied " \
                   f"desc = network {net} not manually attachable" in str(caught.value)
    finally:
        network.remove()


def test_a_worker_that_reaches_no_manager_cannot_start_the_container(  # type: ignore[no-untyped-def]
        cluster: Cluster, swarm) -> None:  # noqa: F811
    net, network = overlay(swarm, "att")
    container = swarm[2].containers.create("busybox", ["sleep", "300"], name=unique("cut"),
                                           network=net)
    try:
        cluster.cut_link(2)
        try:
            with pytest.raises(docker.errors.APIError) as caught:
                container.start()
        finally:
            cluster.heal(2)
        assert caught.value.status_code == 503
        assert f"Could not attach to network {net}: " in str(caught.value)
        container.reload()
        assert not container.attrs["State"]["Running"]
        assert attachment_tasks(swarm[0], container.id) == []
        # the manager again within reach: it starts
        wait_for("node 2 in session again", lambda: swarm[0].nodes.get(
            node_ids(swarm)[2]).attrs["Status"]["State"] == "ready")
        container.start()
        assert len(attachment_tasks(swarm[0], container.id)) == 1
    finally:
        container.remove(force=True)
        wait_for("the network removable", lambda: _removable(network))


def _removable(network) -> bool:  # type: ignore[no-untyped-def]
    try:
        network.remove()
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False
    return True
